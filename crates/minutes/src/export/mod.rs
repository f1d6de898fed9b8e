//! Export files of a task: Markdown, Word (docx), PDF, SRT, WebVTT and JSON.
mod docx;
mod pdf;

pub use docx::markdown_to_docx;
pub use pdf::{markdown_to_pdf, PdfError};

/// The formats `GET /tasks/{id}/export` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Markdown,
    Docx,
    Pdf,
    Srt,
    Vtt,
    Json,
}

impl ExportFormat {
    pub const NAMES: &'static str = "md, docx, pdf, srt, vtt, json";

    pub fn parse(s: &str) -> Option<ExportFormat> {
        match s {
            "md" | "markdown" => Some(ExportFormat::Markdown),
            "docx" => Some(ExportFormat::Docx),
            "pdf" => Some(ExportFormat::Pdf),
            "srt" => Some(ExportFormat::Srt),
            "vtt" => Some(ExportFormat::Vtt),
            "json" => Some(ExportFormat::Json),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Markdown => "md",
            ExportFormat::Docx => "docx",
            ExportFormat::Pdf => "pdf",
            ExportFormat::Srt => "srt",
            ExportFormat::Vtt => "vtt",
            ExportFormat::Json => "json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Markdown => "text/markdown; charset=utf-8",
            ExportFormat::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            ExportFormat::Pdf => "application/pdf",
            ExportFormat::Srt => "application/x-subrip; charset=utf-8",
            ExportFormat::Vtt => "text/vtt; charset=utf-8",
            ExportFormat::Json => "application/json",
        }
    }
}

//! Export files of a task: Markdown, Word (docx), SRT, WebVTT and JSON.
mod docx;

pub use docx::markdown_to_docx;

/// The formats `GET /tasks/{id}/export` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Markdown,
    Docx,
    Srt,
    Vtt,
    Json,
}

impl ExportFormat {
    pub const NAMES: &'static str = "md, docx, srt, vtt, json";

    pub fn parse(s: &str) -> Option<ExportFormat> {
        match s {
            "md" | "markdown" => Some(ExportFormat::Markdown),
            "docx" => Some(ExportFormat::Docx),
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
            ExportFormat::Srt => "application/x-subrip; charset=utf-8",
            ExportFormat::Vtt => "text/vtt; charset=utf-8",
            ExportFormat::Json => "application/json",
        }
    }
}

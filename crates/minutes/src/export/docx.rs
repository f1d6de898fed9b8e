//! A minimal Word document (OOXML) from our Markdown: headings, bullets and paragraphs.
use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;

const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A paragraph; `size` in half-points (Word's unit), bold for headings.
fn paragraph(text: &str, size: Option<u32>, bold: bool) -> String {
    let mut props = String::new();
    if bold {
        props.push_str("<w:b/>");
    }
    if let Some(sz) = size {
        props.push_str(&format!("<w:sz w:val=\"{sz}\"/>"));
    }
    // East Asian text needs an East Asian font hint to render in Word.
    props.push_str("<w:rFonts w:eastAsia=\"SimSun\"/>");
    format!(
        "<w:p><w:r><w:rPr>{props}</w:rPr><w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
        escape(text)
    )
}

pub fn markdown_to_docx(markdown: &str) -> std::io::Result<Vec<u8>> {
    let mut body = String::new();
    for line in markdown.lines() {
        let line = line.trim_end();
        let p = if let Some(h) = line.strip_prefix("# ") {
            paragraph(h, Some(36), true)
        } else if let Some(h) = line.strip_prefix("## ") {
            paragraph(h, Some(28), true)
        } else if let Some(item) = line.strip_prefix("- ") {
            paragraph(&format!("• {item}"), None, false)
        } else if line.is_empty() || line == "---" {
            continue;
        } else {
            paragraph(&line.replace("**", "").replace('*', ""), None, false)
        };
        body.push_str(&p);
    }
    let document = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>{body}</w:body></w:document>"
    );
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in [
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", RELS),
        ("word/document.xml", document.as_str()),
    ] {
        zip.start_file(name, options)
            .map_err(std::io::Error::other)?;
        zip.write_all(data.as_bytes())?;
    }
    Ok(zip.finish().map_err(std::io::Error::other)?.into_inner())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn the_docx_is_a_zip_with_the_text_in_document_xml() {
        let bytes = markdown_to_docx("# 纪要 <1>\n\n## Summary\n\n- item & more\nplain **bold**\n")
            .unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut xml = String::new();
        archive
            .by_name("word/document.xml")
            .unwrap()
            .read_to_string(&mut xml)
            .unwrap();
        assert!(xml.contains("纪要 &lt;1&gt;"));
        assert!(xml.contains("• item &amp; more"));
        assert!(xml.contains(">plain bold<"));
        assert!(archive.by_name("[Content_Types].xml").is_ok());
    }
}

//! A PDF from our Markdown with an embedded CJK font (WenQuanYi Micro Hei, Type0/Identity-H),
//! so Chinese renders and extracts (ToUnicode) on any reader.
use std::collections::BTreeMap;
use std::io::Write;

use flate2::write::ZlibEncoder;
use flate2::Compression;

static FONT: &[u8] = include_bytes!("../../assets/fonts/WenQuanYiMicroHei.ttf");

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 56.0;

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the embedded font cannot be read: {0}")]
    Font(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// One laid-out line: font size and glyph ids.
struct Line {
    size: f32,
    glyphs: Vec<u16>,
}

pub fn markdown_to_pdf(markdown: &str) -> Result<Vec<u8>, PdfError> {
    let face = ttf_parser::Face::parse(FONT, 0).map_err(|e| PdfError::Font(e.to_string()))?;
    let units = f32::from(face.units_per_em());
    let mut used: BTreeMap<u16, (char, u16)> = BTreeMap::new();
    let mut lines = Vec::new();
    for raw in markdown.lines() {
        let (text, size) = if let Some(h) = raw.strip_prefix("# ") {
            (h.to_string(), 18.0)
        } else if let Some(h) = raw.strip_prefix("## ") {
            (h.to_string(), 14.0)
        } else if let Some(item) = raw.strip_prefix("- ") {
            (format!("• {item}"), 11.0)
        } else if raw.trim() == "---" {
            continue;
        } else {
            (raw.replace("**", "").replace('*', ""), 11.0)
        };
        let mut glyphs = Vec::new();
        let mut width = 0.0;
        for c in text.chars() {
            let gid = face
                .glyph_index(c)
                .or_else(|| face.glyph_index('?'))
                .map(|g| g.0)
                .unwrap_or(0);
            let advance = face
                .glyph_hor_advance(ttf_parser::GlyphId(gid))
                .unwrap_or(0);
            let w = f32::from(advance) / units * size;
            // Wrap at the margin (per character: CJK text has no spaces to break at).
            if width + w > PAGE_W - 2.0 * MARGIN && !glyphs.is_empty() {
                lines.push(Line {
                    size,
                    glyphs: std::mem::take(&mut glyphs),
                });
                width = 0.0;
            }
            used.entry(gid).or_insert((c, advance));
            glyphs.push(gid);
            width += w;
        }
        lines.push(Line { size, glyphs });
    }
    let pages = paginate(&lines);
    write_pdf(&face, units, &used, &pages)
}

/// Content streams, one per page.
fn paginate(lines: &[Line]) -> Vec<String> {
    let mut pages = Vec::new();
    let mut page = String::new();
    let mut y = PAGE_H - MARGIN;
    for line in lines {
        let step = line.size * 1.5;
        if y - step < MARGIN {
            pages.push(std::mem::take(&mut page));
            y = PAGE_H - MARGIN;
        }
        y -= step;
        let hex: String = line.glyphs.iter().map(|g| format!("{g:04X}")).collect();
        page.push_str(&format!(
            "BT /F1 {} Tf {MARGIN} {y:.1} Td <{hex}> Tj ET\n",
            line.size
        ));
    }
    pages.push(page);
    pages
}

fn deflate(data: &[u8]) -> Result<Vec<u8>, PdfError> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(data)?;
    Ok(z.finish()?)
}

fn write_pdf(
    face: &ttf_parser::Face,
    units: f32,
    used: &BTreeMap<u16, (char, u16)>,
    pages: &[String],
) -> Result<Vec<u8>, PdfError> {
    let scale = |v: i16| (f32::from(v) / units * 1000.0).round() as i32;
    let bbox = face.global_bounding_box();
    // Objects: 1 catalog, 2 pages, 3 font, 4 CID font, 5 descriptor, 6 font file, 7 ToUnicode,
    // then a page and a content stream per page.
    let mut objects: Vec<Vec<u8>> = Vec::new();
    let page_ids: Vec<usize> = (0..pages.len()).map(|i| 8 + 2 * i).collect();
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    let kids: String = page_ids.iter().map(|id| format!("{id} 0 R ")).collect();
    objects.push(format!("<< /Type /Pages /Kids [{kids}] /Count {} >>", pages.len()).into_bytes());
    objects.push(
        b"<< /Type /Font /Subtype /Type0 /BaseFont /WenQuanYiMicroHei /Encoding /Identity-H \
          /DescendantFonts [4 0 R] /ToUnicode 7 0 R >>"
            .to_vec(),
    );
    let widths: String = used
        .iter()
        .map(|(gid, (_, adv))| {
            format!(
                "{gid} [{}] ",
                (f32::from(*adv) / units * 1000.0).round() as i32
            )
        })
        .collect();
    objects.push(
        format!(
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /WenQuanYiMicroHei \
             /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
             /FontDescriptor 5 0 R /CIDToGIDMap /Identity /DW 1000 /W [{widths}] >>"
        )
        .into_bytes(),
    );
    objects.push(
        format!(
            "<< /Type /FontDescriptor /FontName /WenQuanYiMicroHei /Flags 4 /FontBBox [{} {} {} {}] \
             /ItalicAngle 0 /Ascent {} /Descent {} /CapHeight {} /StemV 80 /FontFile2 6 0 R >>",
            scale(bbox.x_min), scale(bbox.y_min), scale(bbox.x_max), scale(bbox.y_max),
            scale(face.ascender()), scale(face.descender()), scale(face.capital_height().unwrap_or(face.ascender())),
        )
        .into_bytes(),
    );
    let font = deflate(FONT)?;
    objects.push(stream(
        &format!(
            "/Length {} /Length1 {} /Filter /FlateDecode",
            font.len(),
            FONT.len()
        ),
        &font,
    ));
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CIDSystemInfo << /Registry (Adobe) \
         /Ordering (UCS) /Supplement 0 >> def /CMapName /Adobe-Identity-UCS def /CMapType 2 def \
         1 begincodespacerange <0000> <FFFF> endcodespacerange\n",
    );
    let entries: Vec<(u16, char)> = used.iter().map(|(g, (c, _))| (*g, *c)).collect();
    for chunk in entries.chunks(100) {
        cmap.push_str(&format!("{} beginbfchar\n", chunk.len()));
        for (gid, c) in chunk {
            let utf16: String = c
                .encode_utf16(&mut [0; 2])
                .iter()
                .map(|u| format!("{u:04X}"))
                .collect();
            cmap.push_str(&format!("<{gid:04X}> <{utf16}>\n"));
        }
        cmap.push_str("endbfchar\n");
    }
    cmap.push_str("endcmap CMapName currentdict /CMap defineresource pop end end");
    objects.push(stream(&format!("/Length {}", cmap.len()), cmap.as_bytes()));
    for content in pages {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] \
                 /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
                objects.len() + 2
            )
            .into_bytes(),
        );
        let body = deflate(content.as_bytes())?;
        objects.push(stream(
            &format!("/Length {} /Filter /FlateDecode", body.len()),
            &body,
        ));
    }
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, obj) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(obj);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    Ok(out)
}

fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut v = format!("<< {dict} >>\nstream\n").into_bytes();
    v.extend_from_slice(data);
    v.extend_from_slice(b"\nendstream");
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pdf_is_well_formed_with_the_font_embedded() {
        let md = "# 订单服务故障复盘\n\n## Summary\n\n- Redis 连接池耗尽\n".to_string()
            + &"很长的一行文字。".repeat(40);
        let pdf = markdown_to_pdf(&md).unwrap();
        assert!(pdf.starts_with(b"%PDF-1.7"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/Encoding /Identity-H") && text.contains("/FontFile2 6 0 R"));
        // The xref offsets point at the objects they name (the trailer and table are ASCII).
        let tail = String::from_utf8_lossy(&pdf[pdf.len() - 64..]).to_string();
        let xref_at: usize = tail
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(pdf[xref_at..].starts_with(b"xref"));
        let table = String::from_utf8_lossy(&pdf[xref_at..]).to_string();
        let first_offset: usize = table.lines().nth(3).unwrap()[..10].parse().unwrap();
        assert!(pdf[first_offset..].starts_with(b"1 0 obj"));
        assert!(pdf.len() > 1_000_000, "the font is embedded");
    }
}

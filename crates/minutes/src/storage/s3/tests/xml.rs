//! The few XML shapes the test S3 server reads and writes: the part list of a
//! CompleteMultipartUpload body, result documents and `<Error>` answers.
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::sigv4::Refusal;

/// `(PartNumber, ETag)` of every `<Part>` of a CompleteMultipartUpload body, in order.
pub fn listed_parts(body: &str) -> Option<Vec<(u32, String)>> {
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("<Part>") {
        let after = &rest[start + "<Part>".len()..];
        let end = after.find("</Part>")?;
        let part = &after[..end];
        let number = element(part, "PartNumber")?.trim().parse().ok()?;
        parts.push((number, unescape(element(part, "ETag")?)));
        rest = &after[end + "</Part>".len()..];
    }
    Some(parts)
}

fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..end])
}

pub fn error_response(refusal: &Refusal, resource: &str) -> Response {
    let body = format!(
        "<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource>\
         <RequestId>test</RequestId></Error>",
        refusal.code,
        escape(&refusal.message),
        escape(resource)
    );
    let mut response = xml(body);
    *response.status_mut() = refusal.status;
    response
}

pub fn xml(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/xml")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
        .into_response()
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

//! Documents a customer submits while an application is 書類提出待ち (issue #8 item 2):
//! PDF, PNG or JPEG (recognised by their content, not their name), at most 5 MiB each,
//! at most 20 per application; kept with the application, listed at the desk.

use crate::{Ra, RaError, Result};

/// The largest document accepted, bytes.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024 * 1024;
/// Documents per application at most.
pub const MAX_DOCUMENTS: usize = 20;

/// The content type of a document's bytes, if it is of an accepted kind.
pub fn sniff(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else {
        None
    }
}

/// A file name safe to show and to offer back: the last path part, no control
/// characters or quotes, at most 100 characters; `document` if nothing is left.
pub fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | ';'))
        .take(100)
        .collect();
    let cleaned = cleaned.trim().to_owned();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        "document".into()
    } else {
        cleaned
    }
}

impl Ra {
    /// The customer submits a document for an application of theirs that is
    /// 書類提出待ち. Returns the document's id, or the message key of why it was refused.
    pub async fn submit_document(
        &self,
        account_id: i64,
        application_id: i64,
        filename: &str,
        data: &[u8],
    ) -> Result<std::result::Result<i64, &'static str>> {
        if data.is_empty() {
            return Ok(Err("err.doc_empty"));
        }
        if data.len() > MAX_DOCUMENT_BYTES {
            return Ok(Err("err.doc_size"));
        }
        let Some(content_type) = sniff(data) else {
            return Ok(Err("err.doc_type"));
        };
        if self.store.documents_of(application_id).await?.len() >= MAX_DOCUMENTS {
            return Ok(Err("err.doc_count"));
        }
        let sha = shomei_ca::sha256_hex(data);
        match self
            .store
            .add_document(
                account_id,
                application_id,
                &clean_filename(filename),
                content_type,
                &sha,
                data,
                self.now(),
            )
            .await?
        {
            Some(id) => Ok(Ok(id)),
            None => Err(RaError::WrongState),
        }
    }
}

impl Ra {
    /// Staff mark an application 書類提出待ち with what is missing (R-LS3).
    pub async fn request_documents(
        &self,
        staff_id: i64,
        application_id: i64,
        note: &str,
    ) -> Result<()> {
        let note = shomei_model::validate::required_text(note, 1000)
            .map_err(|_| RaError::Invalid("err.documents_note"))?;
        if self
            .store
            .request_documents(application_id, staff_id, &note, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(RaError::WrongState)
        }
    }

    /// Staff record the documents as received; the application goes back to review.
    pub async fn documents_received(&self, staff_id: i64, application_id: i64) -> Result<()> {
        if self
            .store
            .documents_received(application_id, staff_id, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(RaError::WrongState)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sniff_and_names() {
        assert_eq!(super::sniff(b"%PDF-1.7 ..."), Some("application/pdf"));
        assert_eq!(super::sniff(b"\x89PNG\r\n\x1a\nxx"), Some("image/png"));
        assert_eq!(super::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(super::sniff(b"<html>"), None);
        assert_eq!(super::clean_filename("C:\\\\docs\\\\登記.pdf"), "登記.pdf");
        assert_eq!(super::clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(super::clean_filename("a\"b;\nc.pdf"), "abc.pdf");
        assert_eq!(super::clean_filename(".."), "document");
    }
}

//! What an account uses, for quotas: the bytes and the number of its
//! messages in every mailbox (a message in two folders counts twice, as
//! IMAP QUOTA's STORAGE and MESSAGE resources do).

use super::Mailstore;
use crate::store::error::Result;

impl Mailstore {
    /// (bytes, messages) over every mailbox.
    pub async fn usage(&self) -> Result<(u64, u64)> {
        self.db
            .call(|c| {
                let (bytes, count): (i64, i64) = c.query_row(
                    "SELECT COALESCE(SUM(size), 0), COUNT(*) FROM messages",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                Ok((bytes.max(0) as u64, count.max(0) as u64))
            })
            .await
    }
}

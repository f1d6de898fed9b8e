//! Moving data: `minutes db copy` (one database into another, `copy.rs`) and `minutes backup`
//! (archives proven by restores, `backup/`). Both read and write rows through the store's
//! table catalog (`store::catalog`, `store::rows`), so they cover the same tables and verify
//! with the same per-table digests.
pub mod backup;
pub mod copy;
mod progress;

//! Domain intake: normalising what people type or import into registrable company domains.
//!
//! * [`domain`]: the pure rules — [`DomainRules::check`] takes any typed or imported value (domain,
//!   website, e-mail) and returns the company domain or a [`Rejection`] saying why not.
//! * [`source`]: reading CSV (any delimiter and encoding) and spreadsheets row by row, with header
//!   detection; every rejected row keeps its line number.
//! * [`store`]: writing an import or a manual add to the database in one transaction.

pub mod columns;
pub mod delimited;
pub mod domain;
pub mod encoding;
pub mod sheet;
pub mod source;
pub mod store;
pub mod zip_guard;

use std::path::PathBuf;

pub use columns::{ColumnUse, Role, RowOutcome};
pub use domain::{
    DEFAULT_FREE_MAIL_DOMAINS, DomainRules, Rejection, domain_from_email, domain_from_website, normalize_domain,
};
pub use source::{FileFormat, ImportSource, ParsedRow, SourceInfo, read_rows};
pub use store::{
    AddOutcome, AddReport, ImportOptions, ImportReport, add_domains, add_domains_in, import, import_file, import_in,
    import_reader, new_company_ids,
};

/// Problems that stop a whole import; nothing of the file is stored.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot open {}: {source}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("reading the file failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("file is empty")]
    Empty,
    #[error("the first sheet (`{sheet}`) is empty")]
    EmptySheet { sheet: String },
    #[error("the file has a header row but no data rows")]
    NoDataRows,
    #[error("this is not a text or spreadsheet file (it contains binary data)")]
    Binary,
    #[error("no website, e-mail or domain column found (columns: {columns})")]
    NoAddressColumn { columns: String },
    #[error("cannot read the spreadsheet: {0}")]
    Spreadsheet(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("the import was cancelled")]
    Cancelled,
    #[error("the import task failed: {0}")]
    Task(String),
}

//! Local fakes of the Microsoft services, built to microsoft-apis.md section D.

pub mod dataverse;

//! The interactive UI, in the Elm architecture: one [`App`] model, messages applied by
//! [`update`], a pure [`view`], and a runtime ([`run`]) that does all the I/O.

mod filter_edit;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod model;
pub mod run;
pub mod update;
pub mod view;
mod view_detail;
mod view_leads;

pub use model::App;
pub use run::run;
pub use update::{Effect, Msg, update};
pub use view::view;

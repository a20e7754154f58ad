//! The interactive UI, in the Elm architecture: one [`App`] model, messages applied by
//! [`update`], a pure [`view`], and a runtime ([`run`]) that does all the I/O.
//!
//! Dependencies point one way: `run` → `update`, `view` → `layout` → `model`. `update` is split by
//! concern (keys per screen, prompt, menus, the daemon's answers); `layout` holds the geometry both
//! the views and paging/scrolling use, so `model` and `update` never call into a view.

mod filter_edit;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod inbox;
pub mod layout;
pub mod model;
pub mod run;
mod theme;
pub mod update;
pub mod view;
mod view_detail;
mod view_inbox;
mod view_leads;

pub use model::App;
pub use run::run;
pub use update::{Effect, Msg, update};
pub use view::view;

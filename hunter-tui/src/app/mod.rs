//! The interactive UI, in the Elm architecture: one [`App`] model, messages applied by
//! [`update`], a pure [`view`], and a runtime ([`run`]) that does all the I/O.

pub mod model;
pub mod run;
pub mod update;
pub mod view;

pub use model::App;
pub use run::run;
pub use update::{Effect, Msg, update};
pub use view::view;

//! Scheduled work. Features register periodic jobs with the [`Scheduler`]; their state (last run,
//! result, error, next run) lives in PostgreSQL so it survives restarts, is shared by every daemon on
//! the database (a run happens once), and is visible to clients.

pub mod housekeeping;
pub mod owner;
pub mod queue;
mod scheduler;

pub use scheduler::{JobContext, JobFn, JobSpec, Scheduler, SchedulerError};

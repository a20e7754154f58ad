//! systemd readiness notifications (`Type=notify`). No-ops when not started by systemd.

/// Tells systemd we are ready: migrations ran and the socket is bound.
pub fn notify_ready() {
    notify(&[sd_notify::NotifyState::Ready]);
}

/// Tells systemd we are shutting down.
pub fn notify_stopping() {
    notify(&[sd_notify::NotifyState::Stopping]);
}

/// A one-line status shown by `systemctl status`.
pub fn notify_status(text: &str) {
    notify(&[sd_notify::NotifyState::Status(text)]);
}

fn notify(states: &[sd_notify::NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("could not notify systemd: {e}");
    }
}

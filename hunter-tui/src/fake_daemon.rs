//! A one-connection stand-in for hunterd speaking the real protocol, so the client side (the
//! subcommands and the UI's session) is tested without a database.

use std::path::Path;

use interprocess::local_socket::tokio::{Listener, Stream, prelude::*};
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use protocol::frame;
use protocol::{ClientMessage, DaemonStatus, Event, Hello, Request, Response, ServerMessage, Welcome};
use tokio::task::JoinHandle;

fn listen(path: &Path) -> Listener {
    let name = path.to_fs_name::<GenericFilePath>().expect("socket name");
    ListenerOptions::new().name(name).create_tokio().expect("listen")
}

fn welcome(protocol: u32, accepted: bool) -> Welcome {
    Welcome { protocol, build_version: "9.9.9".into(), accepted, reason: None }
}

/// Accepts one client and refuses it as a daemon speaking `protocol`.
pub fn refuse_with_protocol(path: &Path, protocol: u32) -> JoinHandle<()> {
    let listener = listen(path);
    tokio::spawn(async move {
        let stream = listener.accept().await.expect("accept");
        let (mut rd, mut wr) = (&stream, &stream);
        let _: Hello = frame::recv(&mut rd).await.expect("hello");
        frame::send(&mut wr, &welcome(protocol, false)).await.expect("welcome");
    })
}

/// Accepts one client and answers its requests with `status`. After answering a status request
/// it pushes `events`; after pushing [`Event::ShuttingDown`] it hangs up, like hunterd.
pub fn serve(path: &Path, status: DaemonStatus, events: Vec<Event>) -> JoinHandle<()> {
    let listener = listen(path);
    tokio::spawn(async move {
        let stream = listener.accept().await.expect("accept");
        let _: Hello = frame::recv(&mut &stream).await.expect("hello");
        frame::send(&mut &stream, &welcome(protocol::PROTOCOL_VERSION, true)).await.expect("welcome");
        answer_until_closed(&stream, &status, &events).await;
    })
}

async fn answer_until_closed(stream: &Stream, status: &DaemonStatus, events: &[Event]) {
    while let Ok(ClientMessage::Request { id, body }) = frame::recv(&mut &*stream).await {
        let response = match &body {
            Request::Status => Response::Status(Box::new(status.clone())),
            Request::Jobs => Response::Jobs(status.jobs.clone()),
            Request::Ping => Response::Pong,
            _ => Response::Ok,
        };
        frame::send(&mut &*stream, &ServerMessage::Response { id, body: response }).await.expect("respond");
        if body == Request::Status {
            for event in events {
                frame::send(&mut &*stream, &ServerMessage::Event(event.clone())).await.expect("push");
                if *event == Event::ShuttingDown {
                    return;
                }
            }
        }
    }
}

//! The floor to compare Millennium against: a bare `tao` window with a `wry` webview serving one page from a custom
//! protocol and printing `first-ipc-ms N` before exiting: the time from `main` until the page, having received the
//! reply to its first message (`config`, answered with a script as Millennium does), says `ready`. Used by
//! `runtime/bench/run.sh`.

use std::borrow::Cow;
use std::time::Instant;

use tao::event::Event;
use tao::event_loop::{ControlFlow, EventLoopBuilder};
use tao::window::WindowBuilder;
use wry::WebViewBuilder;
use wry::http::Response;

const PAGE: &str = "<!doctype html><html><head><title>Hello</title></head><body><h1>Hello, wry</h1>\
                    <script>window.reply = () => window.ipc.postMessage('ready'); \
                    window.ipc.postMessage('config')</script></body></html>";

enum Step {
    Reply,
    Exit,
}

fn main() {
    let started = Instant::now();
    let event_loop = EventLoopBuilder::<Step>::with_user_event().build();
    let proxy = event_loop.create_proxy();
    let window = match WindowBuilder::new().with_title("raw wry").build(&event_loop) {
        Ok(window) => window,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    };
    let builder = WebViewBuilder::new()
        .with_custom_protocol("raw".into(), |_id, _request| {
            let mut response = Response::new(Cow::Borrowed(PAGE.as_bytes()));
            response.headers_mut().insert("Content-Type", wry::http::HeaderValue::from_static("text/html"));
            response
        })
        .with_ipc_handler(move |request| {
            let step = if request.body() == "config" {
                Step::Reply
            } else {
                println!("first-ipc-ms {}", started.elapsed().as_millis());
                Step::Exit
            };
            let _ = proxy.send_event(step);
        })
        .with_url("raw://localhost/");
    #[cfg(target_os = "linux")]
    let webview = {
        use tao::platform::unix::WindowExtUnix;
        use wry::WebViewBuilderExtUnix;
        let Some(vbox) = window.default_vbox() else {
            eprintln!("error: the window has no GTK box");
            std::process::exit(1);
        };
        builder.build_gtk(vbox)
    };
    #[cfg(not(target_os = "linux"))]
    let webview = builder.build(&window);
    let webview = match webview {
        Ok(webview) => webview,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    };
    event_loop.run(move |event, _, control_flow| {
        *control_flow = match event {
            Event::UserEvent(Step::Reply) => {
                if let Err(error) = webview.evaluate_script("window.reply()") {
                    eprintln!("error: {error}");
                }
                ControlFlow::Wait
            }
            Event::UserEvent(Step::Exit) => ControlFlow::ExitWithCode(0),
            _ => ControlFlow::Wait,
        };
    });
}

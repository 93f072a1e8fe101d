//! `Millennium.window.setTitle(title)` (feature `api-window`): change the calling window's title.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use millennium_runtime::{Message, WindowId};

use crate::AppHandle;
use crate::bridge::CommandFn;

pub(crate) const COMMAND: &str = "millennium:window.setTitle";
pub(crate) const BINDING: &str = "api.window = Object.freeze({ setTitle: function (title) { \
    return invoke(\"millennium:window.setTitle\", { title: String(title) }); } });\n";

#[derive(Deserialize)]
struct Args {
    title: String,
}

pub(crate) fn command() -> CommandFn {
    Arc::new(|app, window, args| {
        let Args { title } = serde_json::from_value(args).map_err(|e| format!("invalid arguments: {e}"))?;
        millennium_api_window_set_title(app, window, title).map(|()| Value::Null)
    })
}

/// Ask the event loop to retitle `window`.
#[inline(never)]
pub(crate) fn millennium_api_window_set_title(app: &AppHandle, window: WindowId, title: String) -> Result<(), String> {
    app.send(Message::SetTitle { window, title }).map_err(|e| e.to_string())
}

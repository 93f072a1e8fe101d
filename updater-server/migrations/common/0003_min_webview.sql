-- The oldest system webview a release works with (`2.44`, `124.0.2478.80`; see the protocol crate's `webview`
-- module), served with the release notes in the update answers. NULL: the release declares no minimum.

ALTER TABLE releases ADD COLUMN min_webview_version TEXT;

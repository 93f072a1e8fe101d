-- Minimum webview versions are per backend (`webkitgtk=2.44,webview2=124.0`, the text form of the protocol crate's
-- `WebviewMinimums`). A value stored before is a bare version, which only Linux bundles produced: it is the WebKitGTK
-- minimum. Versions never contain `=`, so rows already in the new form are left alone.

UPDATE releases
SET min_webview_version = 'webkitgtk=' || min_webview_version
WHERE min_webview_version IS NOT NULL AND min_webview_version NOT LIKE '%=%';

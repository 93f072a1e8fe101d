//! The dashboard's pages, as [`maud`] templates: every `(value)` is HTML-escaped, in text and in attributes alike,
//! so release notes, token descriptions and names quoted in error messages are shown as text, never run. No page has
//! a script or an inline style (the content security policy allows neither); the one stylesheet is [`STYLE`].

use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, html};
use millennium_update_admin::api::{
    AdoptionBucket, CreatedToken, HealthBucket, HealthCounts, Release, ReleaseHealth, WebhookDeliveries, Webhooks,
    hour_seconds,
};

use crate::db::{AppRow, TokenRow};
use crate::names::AppId;

/// `/ui/style.css`.
pub const STYLE: &str = include_str!("style.css");

/// What every page of a signed-in session shows: who is signed in, and the sign-out form.
pub struct Layout<'a> {
    pub who: Option<String>,
    pub csrf: Option<&'a str>,
}

/// The hidden CSRF field of every form.
fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

fn page(layout: &Layout<'_>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · Millennium update server" }
                link rel="stylesheet" href="/ui/style.css";
            }
            body {
                header {
                    a.brand href="/ui/" { "Millennium update server" }
                    @if let (Some(who), Some(csrf)) = (&layout.who, layout.csrf) {
                        span.who { "signed in as " (who) }
                        form.inline method="post" action="/ui/logout" {
                            (csrf_field(csrf))
                            button #sign-out type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A date from Unix seconds (UTC).
fn date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// The sign-in page; `token` is the form's CSRF token (also in the sign-in cookie).
pub fn login(token: &str, refused: Option<&str>) -> Markup {
    let layout = Layout { who: None, csrf: None };
    page(
        &layout,
        "Sign in",
        html! {
            h1 { "Sign in" }
            @if let Some(message) = refused {
                p.error #refused { (message) }
            }
            form method="post" action="/ui/login" {
                input type="hidden" name="csrf" value=(token);
                label for="token" { "Admin token" }
                input #token type="password" name="token" autocomplete="off" required;
                button #sign-in type="submit" { "Sign in" }
            }
            p.hint { "An admin token of an app, or the server admin token. Publish tokens cannot sign in." }
        },
    )
}

/// An error page.
pub fn error(status: StatusCode, message: &str) -> Markup {
    let layout = Layout { who: None, csrf: None };
    page(
        &layout,
        status.canonical_reason().unwrap_or("Error"),
        html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
            p.error #message { (message) }
            p { a href="/ui/" { "Back to the dashboard" } }
        },
    )
}

/// The list of apps.
pub fn apps(layout: &Layout<'_>, apps: &[AppRow]) -> Markup {
    page(
        layout,
        "Apps",
        html! {
            h1 { "Apps" }
            @if apps.is_empty() {
                p { "No app yet: create one with " code { "millennium-update-server apps create" } "." }
            } @else {
                table #apps {
                    thead { tr { th { "App" } th { "Created" } th { "Signed version required" } } }
                    tbody {
                        @for app in apps {
                            tr {
                                td { a href={ "/ui/apps/" (app.id) } { (app.id) } }
                                td { (date(app.created_at)) }
                                td { @if app.require_signed_version { "yes" } @else { "no" } }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// What the app page shows.
pub struct AppPage<'a> {
    pub app: &'a AppRow,
    /// The channels it has releases in, `stable` first.
    pub channels: &'a [String],
    /// Its releases, newest first.
    pub releases: &'a [Release],
    /// What installs reported for each release of `releases`, in the same order.
    pub health: &'a [HealthCounts],
    pub tokens: &'a [TokenRow],
    /// What the last action did.
    pub done: Option<&'static str>,
}

/// The message shown after an action (`?done=`); `None` for anything else, so the query cannot put text on the page.
pub fn done_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "promoted" => "Promoted.",
        "rollout" => "Rollout changed.",
        "paused" => "Rollout paused: the release is offered to no one in that channel.",
        "resumed" => "Rollout resumed.",
        "yanked" => "Release yanked: it is no longer offered nor served.",
        "unyanked" => "Release un-yanked.",
        "revoked" => "Token revoked.",
        _ => return None,
    })
}

/// The URL of an action on a release.
fn release_action(app: &str, version: &str, action: &str) -> String {
    if action.is_empty() {
        format!("/ui/apps/{app}/releases/{version}")
    } else {
        format!("/ui/apps/{app}/releases/{version}/{action}")
    }
}

/// Installs, failures and the failure rate in a few words.
fn health_summary(counts: &HealthCounts) -> String {
    match counts.failure_percent() {
        None => "no installs reported".into(),
        Some(percent) => format!("{} installs, {} failed ({percent:.1} %)", counts.installed, counts.failures()),
    }
}

/// An app: releases per channel (rollout, pause/resume), every release (notes, yank, promote), tokens.
pub fn app(layout: &Layout<'_>, page_data: &AppPage<'_>) -> Markup {
    let csrf = layout.csrf.unwrap_or_default();
    let app = page_data.app.id.as_str();
    page(
        layout,
        app,
        html! {
            h1 { "App " span #app-id { (app) } }
            p { a #webhooks-link href={ "/ui/apps/" (app) "/webhooks" } { "Webhooks and their deliveries" } }
            @if let Some(done) = page_data.done {
                p.done #done { (done) }
            }
            h2 { "Channels" }
            @if page_data.channels.is_empty() {
                p { "No release yet: publish one with " code { "millennium-update-server publish" } "." }
            }
            @for channel in page_data.channels {
                section.channel data-channel=(channel) {
                    h3 { "Channel " code { (channel) } }
                    table {
                        thead { tr { th { "Version" } th { "Rollout" } th { "State" } th { "Notes" } th { "Actions" } } }
                        tbody {
                            @for release in page_data.releases {
                                @if let Some(placement) = release.channels.iter().find(|p| &p.channel == channel) {
                                    tr.placement data-version=(release.version) {
                                        td { code { (release.version) } }
                                        td.rollout { (placement.rollout) " %" }
                                        td.state {
                                            @if release.yanked { span.badge.yanked { "yanked" } " " }
                                            @if release.halted.is_some() { span.badge.halted { "halted" } " " }
                                            @if placement.paused { span.badge.paused { "paused" } }
                                            @else if !release.yanked { span.badge.live { "live" } }
                                        }
                                        td.notes { (release.notes.as_deref().unwrap_or("")) }
                                        td.actions {
                                            form.inline.set-rollout method="post" action=(release_action(app, &release.version, "rollout")) {
                                                (csrf_field(csrf))
                                                input type="hidden" name="channel" value=(channel);
                                                input.percent type="number" name="percent" min="0" max="100" value=(placement.rollout) required;
                                                button type="submit" { "Set %" }
                                            }
                                            form.inline method="post" action=(release_action(app, &release.version, "rollout")) {
                                                (csrf_field(csrf))
                                                input type="hidden" name="channel" value=(channel);
                                                @if placement.paused {
                                                    button.resume type="submit" name="paused" value="false" { "Resume" }
                                                } @else {
                                                    button.pause type="submit" name="paused" value="true" { "Pause" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Releases" }
            @if !page_data.releases.is_empty() {
                table #releases {
                    thead { tr { th { "Version" } th { "Published" } th { "Channels" } th { "Targets" } th { "Health" } th { "Notes" } th { "Actions" } } }
                    tbody {
                        @for (release, health) in page_data.releases.iter().zip(page_data.health) {
                            tr.release data-version=(release.version) {
                                td {
                                    a href=(release_action(app, &release.version, "")) { code { (release.version) } }
                                    @if release.yanked { " " span.badge.yanked { "yanked" } }
                                    @if let Some(halt) = &release.halted { " " span.badge.halted title=(halt.reason) { "halted" } }
                                }
                                td { (release.pub_date) }
                                td { @for p in &release.channels { code { (p.channel) } " " } }
                                td { @for a in &release.artifacts { code { (a.target) } " " } }
                                td.health { (health_summary(health)) }
                                td.notes { (release.notes.as_deref().unwrap_or("")) }
                                td.actions {
                                    form.inline method="post" action=(release_action(app, &release.version, "yank")) {
                                        (csrf_field(csrf))
                                        @if release.yanked {
                                            button.unyank type="submit" name="yanked" value="false" { "Un-yank" }
                                        } @else {
                                            button.yank.danger type="submit" name="yanked" value="true" { "Yank" }
                                        }
                                    }
                                    form.inline.promote method="post" action=(release_action(app, &release.version, "promote")) {
                                        (csrf_field(csrf))
                                        input.channel type="text" name="to" placeholder="channel" required pattern="[a-z0-9][a-z0-9._\\-]{0,63}";
                                        input.percent type="number" name="rollout" min="0" max="100" value="100" required;
                                        button type="submit" { "Promote" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Tokens" }
            table #tokens {
                thead { tr { th { "Id" } th { "Scope" } th { "Description" } th { "Created" } th { "State" } th {} } }
                tbody {
                    @for token in page_data.tokens {
                        tr.token data-token=(token.id) {
                            td { code { (token.id) } }
                            td { (token.scope.as_str()) }
                            td.description { (token.description) }
                            td { (date(token.created_at)) }
                            @if let Some(revoked) = token.revoked_at {
                                td { "revoked " (date(revoked)) }
                                td {}
                            } @else {
                                td { "active" }
                                td {
                                    form.inline method="post" action={ "/ui/apps/" (app) "/tokens/" (token.id) "/revoke" } {
                                        (csrf_field(csrf))
                                        button.revoke.danger type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form #create-token method="post" action={ "/ui/apps/" (app) "/tokens" } {
                (csrf_field(csrf))
                label for="scope" { "New token" }
                select #scope name="scope" {
                    option value="publish" { "publish" }
                    option value="admin" { "admin" }
                }
                input #description type="text" name="description" maxlength="256" placeholder="who or what uses it";
                button type="submit" { "Create token" }
            }
        },
    )
}

/// A new token, shown once.
pub fn token_created(layout: &Layout<'_>, app: &AppId, token: &CreatedToken) -> Markup {
    page(
        layout,
        "Token created",
        html! {
            h1 { "Token created" }
            p { "A " (token.scope.as_str()) " token of " code { (app) } ". Copy it now: it is shown only this once, and the server keeps only its hash." }
            p { code #new-token { (token.token) } }
            p { a href={ "/ui/apps/" (app) } { "Back to " (app) } }
        },
    )
}

/// The hours a health chart shows at most (a week).
const CHART_HOURS: usize = 168;

/// The hours a health chart shows at least.
const MIN_CHART_HOURS: i64 = 48;

/// A bar chart of what installs reported per hour (all channels added up): installs, and failures (rollbacks and
/// failed installs) over them. Drawn here as SVG: no script, no external image. `None` without any report.
pub fn health_chart(buckets: &[HealthBucket]) -> Option<Markup> {
    let mut hours: std::collections::BTreeMap<i64, HealthCounts> = std::collections::BTreeMap::new();
    // Per hour: days the server compacted are older than the chart's week.
    for bucket in buckets.iter().filter(|b| b.seconds == hour_seconds()) {
        let hour = hours.entry(bucket.start).or_default();
        hour.installed += bucket.counts.installed;
        hour.rolled_back += bucket.counts.rolled_back;
        hour.install_failed += bucket.counts.install_failed;
    }
    let last = *hours.keys().next_back()?;
    let (first, slots) = chart_window(*hours.keys().next()?, last);
    let top = hours.values().map(|c| c.installed.max(c.failures())).max().unwrap_or(0).max(1);
    let (width, height, left, bottom) = (720.0_f64, 180.0_f64, 40.0_f64, 20.0_f64);
    let plot = height - bottom - 10.0;
    let slot = (width - left - 10.0) / slots as f64;
    let bar = (slot * 0.8).max(1.0);
    let y = |n: u64| 10.0 + plot - plot * n as f64 / top as f64;
    Some(html! {
        svg.chart #health-chart xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (width) " " (height) } width=(width) height=(height) role="img" aria-label="installs and failures per hour" {
            line.axis x1=(left) y1=(10.0 + plot) x2=(width - 10.0) y2=(10.0 + plot) {}
            text x="4" y="16" { (top) }
            text x="4" y=(10.0 + plot) { "0" }
            text x=(left) y=(height - 4.0) { (date(first)) }
            text x=(width - 10.0) y=(height - 4.0) text-anchor="end" { (date(last)) }
            @for (start, counts) in hours.range(first..) {
                @let x = left + slot * ((start - first) / 3600) as f64;
                rect.installs x=(format!("{x:.1}")) y=(format!("{:.1}", y(counts.installed))) width=(format!("{bar:.1}")) height=(format!("{:.1}", 10.0 + plot - y(counts.installed))) {
                    title { (date(*start)) ": " (counts.installed) " installs, " (counts.failures()) " failed" }
                }
                @if counts.failures() > 0 {
                    rect.failures x=(format!("{x:.1}")) y=(format!("{:.1}", y(counts.failures()))) width=(format!("{bar:.1}")) height=(format!("{:.1}", 10.0 + plot - y(counts.failures()))) {}
                }
            }
        }
        p.legend { span.key.installs { "■" } " installs  " span.key.failures { "■" } " rollbacks and failed installs, per hour (UTC)" }
    })
}

/// The versions an adoption chart draws a line for; the others are added up as "other".
const ADOPTION_SERIES: usize = 6;

/// The hours a chart spans, at least two days (so that a few hours of data read as what they are) and at most a
/// week, ending at the last hour with data: its first hour and the number of hours.
fn chart_window(first: i64, last: i64) -> (i64, usize) {
    let first = first.min(last - 3600 * (MIN_CHART_HOURS - 1)).max(last - 3600 * (CHART_HOURS as i64 - 1));
    (first, usize::try_from((last - first) / 3600 + 1).unwrap_or(1))
}

/// A line per version (the [`ADOPTION_SERIES`] most checked; the rest as "other") of the update checks installs
/// running it made per hour: how a release spreads and the old ones fade. SVG drawn here. `None` without data.
pub fn adoption_chart(buckets: &[AdoptionBucket]) -> Option<Markup> {
    // Per hour, like the health chart.
    let hourly: Vec<&AdoptionBucket> = buckets.iter().filter(|b| b.seconds == hour_seconds()).collect();
    let buckets = hourly.as_slice();
    let last = buckets.iter().map(|b| b.start).max()?;
    let (first, slots) = chart_window(buckets.iter().map(|b| b.start).min()?, last);
    let mut totals: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for bucket in buckets.iter().filter(|b| b.start >= first) {
        *totals.entry(bucket.version.as_str()).or_default() += bucket.checks;
    }
    let mut ranked: Vec<(&str, u64)> = totals.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let named: Vec<&str> = ranked.iter().take(ADOPTION_SERIES).map(|(v, _)| *v).collect();
    let mut series: Vec<(String, Vec<u64>)> = named.iter().map(|v| ((*v).to_owned(), vec![0; slots])).collect();
    let mut other = vec![0u64; slots];
    for bucket in buckets.iter().filter(|b| b.start >= first) {
        let slot = usize::try_from((bucket.start - first) / 3600).unwrap_or(0).min(slots - 1);
        match named.iter().position(|v| *v == bucket.version) {
            Some(i) => series[i].1[slot] += bucket.checks,
            None => other[slot] += bucket.checks,
        }
    }
    if other.iter().any(|n| *n > 0) {
        series.push(("other".to_owned(), other));
    }
    let top = series.iter().flat_map(|(_, v)| v.iter().copied()).max().unwrap_or(0).max(1);
    let (width, height, left, bottom) = (720.0_f64, 180.0_f64, 40.0_f64, 20.0_f64);
    let plot = height - bottom - 10.0;
    let step = (width - left - 10.0) / (slots.max(2) - 1) as f64;
    let points = |values: &[u64]| -> String {
        values
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{:.1},{:.1}", left + step * i as f64, 10.0 + plot - plot * *n as f64 / top as f64))
            .collect::<Vec<_>>()
            .join(" ")
    };
    Some(html! {
        svg.chart #adoption-chart xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (width) " " (height) } width=(width) height=(height) role="img" aria-label="update checks per version and hour" {
            line.axis x1=(left) y1=(10.0 + plot) x2=(width - 10.0) y2=(10.0 + plot) {}
            text x="4" y="16" { (top) }
            text x="4" y=(10.0 + plot) { "0" }
            text x=(left) y=(height - 4.0) { (date(first)) }
            text x=(width - 10.0) y=(height - 4.0) text-anchor="end" { (date(last)) }
            @for (i, (version, values)) in series.iter().enumerate() {
                polyline class={ "series series-" (i) } data-version=(version) points=(points(values)) {
                    title { (version) }
                }
            }
        }
        p.legend {
            @for (i, (version, _)) in series.iter().enumerate() {
                span class={ "key series-" (i) } { "■" } " " (version) "  "
            }
            "update checks per hour (UTC), by the version installs ran"
        }
    })
}

/// A release's health.
pub fn release(layout: &Layout<'_>, app: &AppId, health: &ReleaseHealth) -> Markup {
    let totals = &health.totals;
    page(
        layout,
        &format!("{app} {}", health.version),
        html! {
            h1 { "Release " code #version { (health.version) } " of " a href={ "/ui/apps/" (app) } { (app) } }
            @if let Some(halt) = &health.halted {
                p.error #halted { "Rollout halted by the server " (date(halt.at)) ": " (halt.reason) ". Resume it from the app page once fixed." }
            }
            h2 { "Health" }
            table #totals {
                thead { tr { th { "Installed" } th { "Confirmed" } th { "Rolled back" } th { "Install failed" } th { "Download failed" } th { "Webview too old" } th { "Failure rate" } } }
                tbody {
                    tr {
                        td.installed { (totals.installed) }
                        td.confirmed { (totals.confirmed) }
                        td.rolled-back { (totals.rolled_back) }
                        td.install-failed { (totals.install_failed) }
                        td.download-failed { (totals.download_failed) }
                        td.webview-too-old { (totals.webview_too_old) }
                        td.failure-percent {
                            @match health.failure_percent { Some(p) => { (format!("{p:.1} %")) }, None => { "–" } }
                        }
                    }
                }
            }
            p #rule {
                @match (&health.rule, health.rule_source.as_deref()) {
                    (Some(rule), source) => {
                        "Halt rule (" (source.unwrap_or("?")) "): pause the rollout when rollbacks and failed installs exceed "
                        (rule.max_failure_percent) " % of installs, once at least " (rule.min_installs) " installs reported."
                    }
                    (None, _) => { "No halt rule: set one with " code { "millennium-update-server halt-rule set" } "." }
                }
            }
            @if let Some(chart) = health_chart(&health.buckets) {
                (chart)
            }
            @if let Some(chart) = adoption_chart(&health.adoption) {
                h2 { "Adoption" }
                (chart)
            }
            @if !health.buckets.is_empty() {
                h3 { "Per hour and channel" }
                table #buckets {
                    thead { tr { th { "Hour (UTC)" } th { "Channel" } th { "Installed" } th { "Confirmed" } th { "Rolled back" } th { "Install failed" } th { "Download failed" } th { "Webview too old" } } }
                    tbody {
                        @for bucket in health.buckets.iter().rev() {
                            tr {
                                td { (date(bucket.start)) }
                                td { code { (bucket.channel) } }
                                td { (bucket.counts.installed) }
                                td { (bucket.counts.confirmed) }
                                td { (bucket.counts.rolled_back) }
                                td { (bucket.counts.install_failed) }
                                td { (bucket.counts.download_failed) }
                                td { (bucket.counts.webview_too_old) }
                            }
                        }
                    }
                }
            }
            h2 { "Channels" }
            ul {
                @for p in &health.channels {
                    li { code { (p.channel) } ": " (p.rollout) " %" @if p.paused { " (paused)" } }
                }
            }
        },
    )
}

/// An app's webhooks and their newest deliveries.
pub fn webhooks(layout: &Layout<'_>, app: &AppId, hooks: &Webhooks, deliveries: &WebhookDeliveries) -> Markup {
    page(
        layout,
        &format!("{app} webhooks"),
        html! {
            h1 { "Webhooks of " a href={ "/ui/apps/" (app) } { (app) } }
            @if hooks.webhooks.is_empty() {
                p { "No webhook: add one with " code { "millennium-update-server webhooks add" } "." }
            } @else {
                table #hooks {
                    thead { tr { th { "Id" } th { "URL" } th { "Events" } th { "Added" } } }
                    tbody {
                        @for hook in &hooks.webhooks {
                            tr { td { code { (hook.id) } } td.url { (hook.url) } td { (hook.events.join(", ")) } td { (date(hook.created_at)) } }
                        }
                    }
                }
            }
            h2 { "Deliveries" }
            @if deliveries.deliveries.is_empty() {
                p { "None yet." }
            } @else {
                table #deliveries {
                    thead { tr { th { "Event" } th { "Status" } th { "Attempts" } th { "Last answer" } th { "Created" } th { "Next attempt" } th { "Delivered" } } }
                    tbody {
                        @for d in &deliveries.deliveries {
                            tr.delivery data-event=(d.event) data-status=(d.status) {
                                td { code { (d.event) } }
                                td.status { (d.status) }
                                td { (d.attempts) }
                                td.last {
                                    @if let Some(code) = d.last_status_code { "HTTP " (code) " " }
                                    @if let Some(error) = &d.last_error { (error) }
                                }
                                td { (date(d.created_at)) }
                                td { @if let Some(t) = d.next_attempt_at { (date(t)) } }
                                td { @if let Some(t) = d.delivered_at { (date(t)) } }
                            }
                        }
                    }
                }
            }
        },
    )
}

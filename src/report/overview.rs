//! The run overview: one self-contained HTML page (inline CSS, images embedded as
//! base64) summarising a pipeline run — every stage instance with its kind, whether it
//! ran or came from the cache, its time, its headline metrics, and the charts of its
//! reports.
//!
//! Invariants: the page depends only on the [`RunOverview`] given (and the bytes of the
//! images it names), never on the clock or the machine; it links nothing external, so
//! it can be mailed or archived as one file. The input structs are plain data, filled by
//! the CLI from the cache manifests (`instance`, `wall_time_s`, `metrics`, `files`).

use super::lookup::scalars;
use base64::Engine as _;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What happened to a stage instance in the run.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Computed in this run.
    Ran,
    /// Reused from the cache.
    Cached,
    /// Failed, with its error message.
    Failed(String),
    /// Not run because an input failed.
    Blocked,
    /// Not run (not yet, or not requested): e.g. stale in `sieve plan`.
    NotRun,
}

impl Status {
    fn word(&self) -> &'static str {
        match self {
            Status::Ran => "ran",
            Status::Cached => "cached",
            Status::Failed(_) => "failed",
            Status::Blocked => "blocked",
            Status::NotRun => "not run",
        }
    }
}

/// One stage instance of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRecord {
    /// Instance name, e.g. `acc[budget=256,band=easy]`.
    pub instance: String,
    /// Stage kind, e.g. `evaluate`.
    pub kind: String,
    pub status: Status,
    /// Wall time of the computation (for a cached entry: of the run that made it).
    pub seconds: Option<f64>,
    /// Cache key (shown shortened).
    pub key: Option<String>,
    /// The entry's `metrics.json`, if it wrote one.
    pub metrics: Option<serde_json::Value>,
    /// Images to show (PNG or SVG files), embedded into the page.
    pub images: Vec<PathBuf>,
}

impl StageRecord {
    /// A record with no time, key, metrics or images.
    pub fn new(instance: impl Into<String>, kind: impl Into<String>, status: Status) -> Self {
        StageRecord {
            instance: instance.into(),
            kind: kind.into(),
            status,
            seconds: None,
            key: None,
            metrics: None,
            images: Vec::new(),
        }
    }

    /// Takes the images among an entry's output files (paths relative to `out_dir`, as
    /// in a manifest's `files`): its PNGs, or its SVGs when it has no PNG.
    pub fn with_images_from<S: AsRef<str>>(
        mut self,
        out_dir: &Path,
        files: impl IntoIterator<Item = S>,
    ) -> Self {
        let files: Vec<String> = files.into_iter().map(|f| f.as_ref().to_string()).collect();
        let pick = |ext: &str| -> Vec<PathBuf> {
            let mut v: Vec<&String> = files
                .iter()
                .filter(|f| f.to_ascii_lowercase().ends_with(ext))
                .collect();
            v.sort();
            v.into_iter().map(|f| out_dir.join(f)).collect()
        };
        let png = pick(".png");
        self.images = if png.is_empty() { pick(".svg") } else { png };
        self
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunOverview {
    /// Page title (the pipeline's name).
    pub title: String,
    /// Stage instances, in the order to show them (e.g. topological).
    pub stages: Vec<StageRecord>,
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `0.42 s`, `12.3 s`, `2 min 05 s`, `1 h 02 min`.
pub fn format_seconds(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "–".into();
    }
    if s < 10.0 {
        format!("{s:.2} s")
    } else if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        let t = s.round() as u64;
        format!("{} min {:02} s", t / 60, t % 60)
    } else {
        let t = (s / 60.0).round() as u64;
        format!("{} h {:02} min", t / 60, t % 60)
    }
}

fn format_metric(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.abs() >= 1000.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// The id of stage `i`'s details (by position: instance names may differ only in
/// characters an id cannot hold).
fn anchor(i: usize) -> String {
    format!("stage-{}", i + 1)
}

fn embed_image(out: &mut String, path: &Path) {
    let mime = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "application/octet-stream",
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match std::fs::read(path) {
        Ok(bytes) => {
            let data = base64::engine::general_purpose::STANDARD.encode(bytes);
            let _ = writeln!(
                out,
                "<figure><img alt=\"{}\" src=\"data:{mime};base64,{data}\"></figure>",
                esc(&name)
            );
        }
        Err(e) => {
            let _ = writeln!(
                out,
                "<p class=\"missing\">image {} could not be read: {}</p>",
                esc(&name),
                esc(&e.to_string())
            );
        }
    }
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'DejaVu Sans',sans-serif;margin:2rem auto;max-width:1100px;\
padding:0 1rem;color:#222}h1{margin-bottom:.2rem}table{border-collapse:collapse;margin:1rem 0;font-size:.92rem}\
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}th{background:#f4f4f4}\
td.num{text-align:right;font-variant-numeric:tabular-nums}.st{font-weight:600}.ran{color:#1a7f37}\
.cached{color:#0969da}.failed{color:#cf222e}.blocked,.not-run{color:#777}figure{margin:1rem 0}\
img{max-width:100%;border:1px solid #eee}pre{background:#f6f8fa;padding:.6rem;overflow:auto;font-size:.85rem}\
.summary{color:#444}.missing{color:#cf222e}code{font-size:.9em}";

/// Renders the run as one self-contained HTML page.
pub fn render_html(run: &RunOverview) -> String {
    let mut out = String::new();
    let title = if run.title.is_empty() {
        "sieve run"
    } else {
        run.title.as_str()
    };
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{} — sieve</title>\n<style>{CSS}</style>\n</head>\n<body>",
        esc(title)
    );
    let _ = writeln!(out, "<h1>{}</h1>", esc(title));

    // Summary line.
    let count = |f: &dyn Fn(&Status) -> bool| run.stages.iter().filter(|s| f(&s.status)).count();
    let ran = count(&|s| *s == Status::Ran);
    let cached = count(&|s| *s == Status::Cached);
    let failed = count(&|s| matches!(s, Status::Failed(_)));
    let blocked = count(&|s| *s == Status::Blocked);
    let not_run = count(&|s| *s == Status::NotRun);
    let time = |st: Status| -> f64 {
        run.stages
            .iter()
            .filter(|s| s.status == st)
            .filter_map(|s| s.seconds)
            .filter(|t| t.is_finite())
            .sum()
    };
    let mut summary = format!(
        "{} stage{}: {ran} ran, {cached} cached",
        run.stages.len(),
        if run.stages.len() == 1 { "" } else { "s" }
    );
    for (n, word) in [(failed, "failed"), (blocked, "blocked"), (not_run, "not run")] {
        if n > 0 {
            let _ = write!(summary, ", {n} {word}");
        }
    }
    let _ = write!(summary, ". Computed {}", format_seconds(time(Status::Ran)));
    if cached > 0 {
        let _ = write!(
            summary,
            "; the cache saved {}",
            format_seconds(time(Status::Cached))
        );
    }
    let _ = writeln!(out, "<p class=\"summary\">{}.</p>", esc(&summary));

    // Stage table.
    out.push_str("<h2>Stages</h2>\n<table>\n<tr><th>#</th><th>stage</th><th>kind</th><th>status</th><th>time</th><th>key</th><th>metrics</th></tr>\n");
    for (i, s) in run.stages.iter().enumerate() {
        let class = s.status.word().replace(' ', "-");
        let status = match &s.status {
            Status::Failed(msg) => format!("<span class=\"st {class}\" title=\"{}\">failed</span>", esc(msg)),
            st => format!("<span class=\"st {class}\">{}</span>", st.word()),
        };
        let name = if s.metrics.is_some() || !s.images.is_empty() {
            format!("<a href=\"#{}\"><code>{}</code></a>", anchor(i), esc(&s.instance))
        } else {
            format!("<code>{}</code>", esc(&s.instance))
        };
        let headline: Vec<String> = s
            .metrics
            .as_ref()
            .map(|m| {
                scalars(m)
                    .into_iter()
                    .take(4)
                    .map(|(k, v)| format!("{} {}", esc(&k), format_metric(v)))
                    .collect()
            })
            .unwrap_or_default();
        let key = s
            .key
            .as_deref()
            .map(|k| format!("<code>{}</code>", esc(&k[..k.len().min(12)])))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td>{name}</td><td>{}</td><td>{status}</td><td class=\"num\">{}</td><td>{key}</td><td>{}</td></tr>",
            i + 1,
            esc(&s.kind),
            s.seconds.map(format_seconds).unwrap_or_else(|| "–".into()),
            headline.join(" · ")
        );
    }
    out.push_str("</table>\n");

    // Failures, in full.
    let failures: Vec<&StageRecord> = run
        .stages
        .iter()
        .filter(|s| matches!(s.status, Status::Failed(_)))
        .collect();
    if !failures.is_empty() {
        out.push_str("<h2>Failures</h2>\n");
        for s in failures {
            if let Status::Failed(msg) = &s.status {
                let _ = writeln!(
                    out,
                    "<h3><code>{}</code></h3>\n<pre>{}</pre>",
                    esc(&s.instance),
                    esc(msg)
                );
            }
        }
    }

    // Metrics side by side, one table per kind.
    let mut kinds: Vec<&str> = Vec::new();
    for s in &run.stages {
        if s.metrics.is_some() && !kinds.contains(&s.kind.as_str()) {
            kinds.push(&s.kind);
        }
    }
    if !kinds.is_empty() {
        out.push_str("<h2>Metrics</h2>\n");
    }
    for kind in kinds {
        let members: Vec<(&StageRecord, Vec<(String, f64)>)> = run
            .stages
            .iter()
            .filter(|s| s.kind == kind)
            .filter_map(|s| s.metrics.as_ref().map(|m| (s, scalars(m))))
            .collect();
        let mut cols: Vec<String> = Vec::new();
        for (_, sc) in &members {
            for (k, _) in sc {
                if !cols.contains(k) && cols.len() < 10 {
                    cols.push(k.clone());
                }
            }
        }
        if cols.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "<h3><code>{}</code></h3>\n<table>\n<tr><th>stage</th>",
            esc(kind)
        );
        for c in &cols {
            let _ = write!(out, "<th>{}</th>", esc(c));
        }
        out.push_str("</tr>\n");
        for (s, sc) in &members {
            let _ = write!(out, "<tr><td><code>{}</code></td>", esc(&s.instance));
            for c in &cols {
                let v = sc
                    .iter()
                    .find(|(k, _)| k == c)
                    .map(|(_, v)| format_metric(*v))
                    .unwrap_or_default();
                let _ = write!(out, "<td class=\"num\">{v}</td>");
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }

    // Per-stage details: charts, then the full metrics.
    let detailed: Vec<(usize, &StageRecord)> = run
        .stages
        .iter()
        .enumerate()
        .filter(|(_, s)| s.metrics.is_some() || !s.images.is_empty())
        .collect();
    if !detailed.is_empty() {
        out.push_str("<h2>Details</h2>\n");
    }
    for (i, s) in detailed {
        let _ = writeln!(
            out,
            "<h3 id=\"{}\"><code>{}</code> <small>({})</small></h3>",
            anchor(i),
            esc(&s.instance),
            esc(&s.kind)
        );
        for img in &s.images {
            embed_image(&mut out, img);
        }
        if let Some(m) = &s.metrics {
            let pretty = serde_json::to_string_pretty(m).unwrap_or_default();
            let _ = writeln!(
                out,
                "<details><summary>metrics.json</summary><pre>{}</pre></details>",
                esc(&pretty)
            );
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(dir: &Path) -> RunOverview {
        std::fs::write(dir.join("chart.png"), b"\x89PNG fake").unwrap();
        std::fs::write(dir.join("chart.svg"), b"<svg/>").unwrap();
        let mut a = StageRecord::new("acc[budget=256,band=easy]", "evaluate", Status::Cached);
        a.seconds = Some(125.0);
        a.key = Some("0123456789abcdef0123".into());
        a.metrics = Some(json!({"metric": "exact_match", "accuracy": 0.68341, "n": 2000}));
        let mut r = StageRecord::new("heatmap", "report", Status::Ran)
            .with_images_from(dir, ["report.md", "chart.svg", "chart.png", "metrics.json"]);
        r.seconds = Some(0.5);
        let f = StageRecord::new("tuned<x>", "sft", Status::Failed("loss is NaN & <bad>".into()));
        RunOverview {
            title: "difficulty_budget".into(),
            stages: vec![a, r, f],
        }
    }

    #[test]
    fn page_summarises_stages_metrics_and_embeds_images() {
        let dir = tempfile::tempdir().unwrap();
        let html = render_html(&run(dir.path()));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(
            html.contains(
                "3 stages: 1 ran, 1 cached, 1 failed. Computed 0.50 s; the cache saved 2 min 05 s."
            ),
            "{html}"
        );
        assert!(html.contains("accuracy 0.6834 · n 2000"), "{html}");
        assert!(html.contains("<code>0123456789ab</code>"));
        assert!(html.contains("data:image/png;base64,iVBORyBmYWtl"), "{html}");
        assert!(!html.contains("image/svg+xml"), "PNG preferred over SVG");
        assert!(html.contains("tuned&lt;x&gt;") && html.contains("loss is NaN &amp; &lt;bad&gt;"));
        assert!(html.contains("href=\"#stage-1\"") && html.contains("<h3 id=\"stage-2\">"));
        assert!(!html.contains("http"), "self-contained");
        assert_eq!(html, render_html(&run(dir.path())), "deterministic");
        if let Ok(keep) = std::env::var("SIEVE_KEEP_CHARTS") {
            std::fs::create_dir_all(&keep).unwrap();
            std::fs::write(Path::new(&keep).join("overview.html"), &html).unwrap();
        }
    }

    #[test]
    fn svg_fallback_missing_images_and_times() {
        let dir = tempfile::tempdir().unwrap();
        let r = StageRecord::new("r", "report", Status::Ran).with_images_from(dir.path(), ["b.svg", "a.svg"]);
        assert_eq!(r.images, [dir.path().join("a.svg"), dir.path().join("b.svg")]);
        let html = render_html(&RunOverview {
            title: String::new(),
            stages: vec![r],
        });
        assert!(html.contains("<title>sieve run — sieve</title>"));
        assert!(html.contains("image a.svg could not be read"), "{html}");
        assert_eq!(format_seconds(3.0), "3.00 s");
        assert_eq!(format_seconds(42.26), "42.3 s");
        assert_eq!(format_seconds(7322.0), "2 h 02 min");
        assert!(render_html(&RunOverview::default()).contains("0 stages: 0 ran, 0 cached"));
    }
}

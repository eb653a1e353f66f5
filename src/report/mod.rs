//! The validation report as one self-contained HTML file: inline SVG charts
//! rendered with plotters' SVG backend (ROC curves of the model and its
//! baselines, reliability diagram, renewal rate by band, lift by decile) and the
//! tables. No script, no network: it opens anywhere, including mail clients.
//! Rendering returns a string; writing it is the caller's business.

pub mod card;
pub mod portfolio;

use plotters::prelude::*;

use crate::validate::{Report, RiskReport, UpsellReport};

const W: u32 = 520;
const H: u32 = 380;
const PALETTE: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// Text escaped for HTML.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Renders one chart as an SVG string: a white `w`×`h` drawing area handed to
/// `draw`; a drawing error becomes a short note in the page instead.
pub(crate) fn svg(w: u32, h: u32, draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> DrawResult) -> String {
    let mut svg = String::new();
    let res: DrawResult = (|| {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
        Ok(())
    })();
    match res {
        Ok(()) => svg,
        Err(e) => format!("<p>chart unavailable: {}</p>", esc(&e.to_string())),
    }
}

/// [`svg`] at the validation report's chart size.
fn render_svg(draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> DrawResult) -> String {
    svg(W, H, draw)
}

type UnitChart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>;

/// A chart over the unit square with a light mesh, axis names and the grey
/// diagonal (chance for ROC, perfect calibration for reliability).
fn unit_square<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    caption: String,
    x_desc: &str,
    y_desc: &str,
) -> Result<UnitChart<'a, 'b>, Box<dyn std::error::Error>> {
    let mut c = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
    c.configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()?;
    c.draw_series(LineSeries::new(
        vec![(0.0, 0.0), (1.0, 1.0)],
        ShapeStyle::from(&RGBColor(170, 170, 170)).stroke_width(1),
    ))?;
    Ok(c)
}

/// ROC curves: the model and each baseline, with the chance diagonal.
pub fn roc_chart(r: &RiskReport) -> String {
    render_svg(|root| {
        let mut c = unit_square(root, "ROC curve (risk)".into(), "false positive rate", "true positive rate")?;
        let mut curves = vec![(format!("model (AUC {:.3})", r.roc_auc.estimate), r.roc.clone())];
        for b in &r.baselines {
            curves.push((format!("{} (AUC {:.3})", b.name, b.roc_auc.estimate), b.roc.clone()));
        }
        for (i, (name, pts)) in curves.into_iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            c.draw_series(LineSeries::new(pts, ShapeStyle::from(&color).stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], ShapeStyle::from(&color).stroke_width(2)));
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.9))
            .draw()?;
        Ok(())
    })
}

/// Reliability diagram: mean predicted risk against observed churn per bin.
pub fn reliability_chart(r: &RiskReport) -> String {
    render_svg(|root| {
        let mut c = unit_square(
            root,
            format!("Reliability (calibration error {:.3})", r.calibration_error),
            "mean predicted risk",
            "observed churn rate",
        )?;
        let pts: Vec<(f64, f64)> = r.reliability.iter().map(|b| (b.mean_predicted, b.observed_rate)).collect();
        c.draw_series(LineSeries::new(pts.clone(), ShapeStyle::from(&PALETTE[0]).stroke_width(2)))?;
        c.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, PALETTE[0].filled())))?;
        Ok(())
    })
}

/// Bars with a label on top of each.
fn bar_chart(title: &str, y_desc: &str, bars: &[(String, f64, String, RGBColor)], y_max: f64) -> String {
    render_svg(|root| {
        let n = bars.len().max(1) as f64;
        let mut c = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..n, 0f64..y_max)?;
        let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        c.configure_mesh()
            .disable_x_mesh()
            .light_line_style(RGBColor(238, 238, 238))
            .x_labels(bars.len() * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - x.floor() - 0.5).abs() < 1e-6 && i < names.len() {
                    names[i].clone()
                } else {
                    String::new()
                }
            })
            .y_desc(y_desc)
            .draw()?;
        for (i, (_, v, label, color)) in bars.iter().enumerate() {
            let x0 = i as f64 + 0.15;
            let x1 = i as f64 + 0.85;
            c.draw_series(std::iter::once(Rectangle::new([(x0, 0.0), (x1, *v)], color.filled())))?;
            c.draw_series(std::iter::once(Text::new(
                label.clone(),
                (x0, (*v + y_max * 0.02).min(y_max * 0.97)),
                ("sans-serif", 13),
            )))?;
        }
        Ok(())
    })
}

/// Renewal rate per band, with counts.
pub fn band_chart(r: &RiskReport) -> String {
    let colors = |b: &str| match b {
        "green" => RGBColor(46, 160, 67),
        "yellow" => RGBColor(230, 180, 30),
        _ => RGBColor(200, 50, 50),
    };
    let bars: Vec<(String, f64, String, RGBColor)> = r
        .bands
        .iter()
        .map(|b| {
            let v = if b.renewal_rate.is_finite() { b.renewal_rate } else { 0.0 };
            (b.band.clone(), v, format!("{:.0}% (n={})", 100.0 * v, b.count), colors(&b.band))
        })
        .collect();
    bar_chart("Renewal rate by band", "renewal rate", &bars, 1.0)
}

/// Lift of each risk decile (1 = riskiest).
pub fn lift_chart(r: &RiskReport) -> String {
    let max = r.deciles.iter().map(|d| d.lift).filter(|v| v.is_finite()).fold(1.0, f64::max) * 1.15;
    let bars: Vec<(String, f64, String, RGBColor)> = r
        .deciles
        .iter()
        .map(|d| {
            let v = if d.lift.is_finite() { d.lift } else { 0.0 };
            (d.decile.to_string(), v, format!("{v:.1}"), PALETTE[0])
        })
        .collect();
    bar_chart("Churn lift by risk decile (1 = riskiest)", "lift", &bars, max)
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", 100.0 * x)
    } else {
        "–".into()
    }
}

fn num(x: f64, d: usize) -> String {
    if x.is_finite() {
        format!("{x:.d$}")
    } else {
        "–".into()
    }
}

fn risk_section(r: &RiskReport) -> String {
    let mut h = String::new();
    h += &format!(
        "<h2>Risk: did the scores predict churn?</h2><p>{} renewals, churn rate {}.</p>",
        r.rows,
        pct(r.churn_rate)
    );
    h += "<table><tr><th>metric</th><th>value</th></tr>";
    let rows = [
        (
            "ROC-AUC (95% bootstrap interval)",
            format!(
                "{} [{}, {}]",
                num(r.roc_auc.estimate, 3),
                num(r.roc_auc.lower, 3),
                num(r.roc_auc.upper, 3)
            ),
        ),
        ("PR-AUC", num(r.pr_auc, 3)),
        ("Brier score", num(r.brier, 4)),
        ("log-loss", num(r.log_loss, 4)),
        ("expected calibration error", num(r.calibration_error, 3)),
        (
            "point-biserial r, health vs renewal (p)",
            format!("{} ({:.2e})", num(r.point_biserial.0, 3), r.point_biserial.1),
        ),
        (
            "Spearman rho, health vs renewal (p)",
            format!("{} ({:.2e})", num(r.spearman.0, 3), r.spearman.1),
        ),
    ];
    for (k, v) in rows {
        h += &format!("<tr><td>{k}</td><td>{v}</td></tr>");
    }
    if let Some(rev) = &r.revenue {
        h += &format!(
            "<tr><td>churned ARR caught in the top-risk decile</td><td>{}</td></tr><tr><td>churned ARR in the red band</td><td>{}</td></tr>",
            pct(rev.top_decile_share),
            pct(rev.red_band_share)
        );
    }
    h += "</table>";
    if !r.baselines.is_empty() {
        h += "<h3>Against the baselines</h3><table><tr><th>baseline</th><th>its AUC</th><th>model − baseline (95% interval)</th><th>verdict</th></tr>";
        for b in &r.baselines {
            let verdict = if b.difference.lower > 0.0 {
                "model better"
            } else if b.difference.upper < 0.0 {
                "model worse"
            } else {
                "no clear difference"
            };
            h += &format!(
                "<tr><td>{}</td><td>{}</td><td>{:+.3} [{:+.3}, {:+.3}]</td><td>{verdict}</td></tr>",
                esc(&b.name),
                num(b.roc_auc.estimate, 3),
                b.difference.estimate,
                b.difference.lower,
                b.difference.upper
            );
        }
        h += "</table>";
    }
    h += &format!(
        "<div class=charts><figure>{}</figure><figure>{}</figure><figure>{}</figure><figure>{}</figure></div>",
        roc_chart(r),
        reliability_chart(r),
        band_chart(r),
        lift_chart(r)
    );
    h += "<h3>Renewal by band</h3><table><tr><th>band</th><th>accounts</th><th>churned</th><th>renewal rate</th></tr>";
    for b in &r.bands {
        h += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            b.band,
            b.count,
            b.churned,
            pct(b.renewal_rate)
        );
    }
    h += "</table><h3>Reliability</h3><table><tr><th>bin</th><th>mean predicted</th><th>observed</th><th>accounts</th></tr>";
    for b in &r.reliability {
        h += &format!(
            "<tr><td>{:.1}–{:.1}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            b.lower,
            b.upper,
            pct(b.mean_predicted),
            pct(b.observed_rate),
            b.count
        );
    }
    h += "</table><h3>Lift and capture by decile</h3><table><tr><th>decile</th><th>accounts</th><th>churned</th><th>churn rate</th><th>lift</th><th>cumulative capture</th><th>cumulative ARR capture</th></tr>";
    for d in &r.deciles {
        h += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            d.decile,
            d.count,
            d.positives,
            pct(d.rate),
            num(d.lift, 2),
            pct(d.cumulative_capture),
            d.cumulative_weight_capture.map(pct).unwrap_or_else(|| "–".into())
        );
    }
    h + "</table>"
}

fn upsell_section(u: &UpsellReport) -> String {
    let mut h = format!(
        "<h2>Upsell: did the scores find the expansions?</h2><p>{} accounts, expansion rate {}.</p><table><tr><th>metric</th><th>value</th></tr>\
         <tr><td>ROC-AUC (95% bootstrap interval)</td><td>{} [{}, {}]</td></tr><tr><td>precision in the top decile</td><td>{}</td></tr><tr><td>lift in the top decile</td><td>{}</td></tr></table>",
        u.rows,
        pct(u.expansion_rate),
        num(u.roc_auc.estimate, 3),
        num(u.roc_auc.lower, 3),
        num(u.roc_auc.upper, 3),
        pct(u.top_decile_precision),
        num(u.top_decile_lift, 2)
    );
    h += "<h3>Expansion by action</h3><table><tr><th>action</th><th>accounts</th><th>expansion rate</th></tr>";
    for (a, (n, r)) in &u.by_action {
        h += &format!("<tr><td>{}</td><td>{n}</td><td>{}</td></tr>", esc(a), pct(*r));
    }
    h + "</table>"
}

/// Renders the whole report as one HTML page.
///
/// ```
/// use healthscore::validate::Report;
/// let r = Report { title: "t".into(), generated_at: "now".into(), model_version: None, joined_rows: 0,
///     unmatched_scores: 0, unmatched_outcomes: 0, resamples: 0, seed: 0, risk: None, upsell: None, segments: vec![], selection: vec![], verdicts: vec![] };
/// assert!(healthscore::report::html(&r).starts_with("<!DOCTYPE html>"));
/// ```
pub fn html(r: &Report) -> String {
    let mut h = String::from(
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>healthscore validation</title><style>\
         body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}\
         table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}\
         th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}\
         .charts{display:grid;grid-template-columns:1fr 1fr;gap:8px}figure{margin:0}h1{margin-bottom:.2em}.meta{color:#666}</style></head><body>",
    );
    h += &format!("<h1>{}</h1>", esc(&r.title));
    h += &format!(
        "<p class=meta>model version {} · generated {} · {} rows joined ({} scores and {} outcomes unmatched) · {} bootstrap resamples, seed {}</p>",
        esc(r.model_version.as_deref().unwrap_or("–")),
        esc(&r.generated_at),
        r.joined_rows,
        r.unmatched_scores,
        r.unmatched_outcomes,
        r.resamples,
        r.seed
    );
    for v in &r.verdicts {
        h += &format!(
            "<p style=\"background:#fff4e5;border-left:4px solid #e69500;padding:.5em .8em\"><strong>Note:</strong> {}</p>",
            esc(v)
        );
    }
    if let Some(risk) = &r.risk {
        h += &risk_section(risk);
    }
    if !r.segments.is_empty() {
        h += "<h2>Risk by segment</h2><table><tr><th>segment</th><th>accounts</th><th>churn rate</th><th>ROC-AUC [95%]</th><th>hand-built AUC</th></tr>";
        for s in &r.segments {
            h += &format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} [{}, {}]</td><td>{}</td></tr>",
                esc(&s.segment),
                s.rows,
                pct(s.churn_rate),
                num(s.roc_auc.estimate, 3),
                num(s.roc_auc.lower, 3),
                num(s.roc_auc.upper, 3),
                s.baseline_roc_auc.map(|b| num(b, 3)).unwrap_or_else(|| "–".into())
            );
        }
        h += "</table>";
    }
    if let Some(u) = &r.upsell {
        h += &upsell_section(u);
    }
    if !r.selection.is_empty() {
        h += "<h2>Model selection</h2><p class=meta>Group-aware, out-of-time cross-validation on the rows before the holdout; \
              the lowest pooled out-of-fold log-loss wins. A segment gets its own model when it beats the pooled model on the \
              segment's rows by more than one standard error. \
              Each figure rests on the out-of-fold rows (positives) shown; ± is one standard error.</p>\
              <table><tr><th>target</th><th>scope</th><th>model</th><th>CV log-loss</th><th>CV ROC-AUC</th><th>rows (positives)</th><th>chosen</th></tr>";
        for s in &r.selection {
            h += &format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&s.target),
                esc(&s.scope),
                esc(&s.model),
                match (s.cv_log_loss, s.cv_log_loss_se) {
                    (Some(v), Some(se)) => format!("{} ± {}", num(v, 4), num(se, 4)),
                    (Some(v), None) => num(v, 4),
                    _ => "–".into(),
                },
                s.cv_roc_auc.map(|v| num(v, 3)).unwrap_or_else(|| "–".into()),
                match (s.cv_rows, s.cv_positives) {
                    (Some(n), Some(k)) => format!("{n} ({k})"),
                    _ => "–".into(),
                },
                if s.chosen { "✓" } else { "" }
            );
        }
        h += "</table>";
    }
    h += "<p class=meta>Health = 100 × (1 − risk). Bands and the hand-built score follow the model's spec. Attributions and drivers are in the scores file.</p></body></html>\n";
    h
}

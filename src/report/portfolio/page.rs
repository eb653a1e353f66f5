//! The portfolio page: one self-contained HTML page with inline SVG charts
//! drawn by plotters, no script.

use plotters::prelude::*;

use super::*;
use crate::report::{esc, svg};

pub(super) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// 1234567 → `1.23M`, 45600 → `45.6k`.
pub(super) fn format_money(x: f64) -> String {
    if x.abs() >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x.abs() >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

pub(super) const COLOURS: [RGBColor; 3] = [RGBColor(214, 39, 40), RGBColor(230, 160, 0), RGBColor(44, 160, 44)];

/// The risk × upsell map: a dot per account (size by ARR) up to [`MAP_DOTS`], else a density grid.
pub(super) fn map_chart(p: &Portfolio) -> String {
    svg(560, 440, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Portfolio map: churn risk × upsell", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc("churn risk")
            .y_desc("upsell probability")
            .x_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        if p.points.len() <= MAP_DOTS {
            let max_arr = p.points.iter().map(|q| q.3).fold(0.0, f64::max).max(1e-9);
            for (k, name) in BANDS.iter().enumerate() {
                let colour = COLOURS[k];
                chart
                    .draw_series(
                        p.points
                            .iter()
                            .filter(|q| q.2 == k)
                            .map(|&(x, y, _, a)| Circle::new((x, y), 2 + (6.0 * (a / max_arr).sqrt()) as i32, colour.mix(0.55).filled())),
                    )?
                    .label(*name)
                    .legend(move |(x, y)| Circle::new((x, y), 5, colour.filled()));
            }
        } else {
            const G: usize = 50;
            let mut cells = vec![[0usize; 3]; G * G];
            for &(x, y, b, _) in &p.points {
                let i = ((x * G as f64) as usize).min(G - 1);
                let j = ((y * G as f64) as usize).min(G - 1);
                cells[j * G + i][b] += 1;
            }
            let max = cells.iter().map(|c| c.iter().sum::<usize>()).max().unwrap_or(1).max(1) as f64;
            for (k, name) in BANDS.iter().enumerate() {
                let colour = COLOURS[k];
                let rects = cells.iter().enumerate().filter_map(move |(c, counts)| {
                    let total: usize = counts.iter().sum();
                    let dominant = (0..3).max_by_key(|&b| counts[b]).unwrap_or(0);
                    if total == 0 || dominant != k {
                        return None;
                    }
                    let (i, j) = ((c % G) as f64, (c / G) as f64);
                    let alpha = 0.15 + 0.85 * ((total as f64).ln_1p() / max.ln_1p());
                    Some(Rectangle::new(
                        [(i / G as f64, j / G as f64), ((i + 1.0) / G as f64, (j + 1.0) / G as f64)],
                        colour.mix(alpha).filled(),
                    ))
                });
                chart
                    .draw_series(rects)?
                    .label(format!("{name} (density)"))
                    .legend(move |(x, y)| Rectangle::new([(x - 5, y - 5), (x + 5, y + 5)], colour.filled()));
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// Accounts per risk bin, stacked by band.
pub(super) fn distribution_chart(p: &Portfolio) -> String {
    svg(560, 440, |root| {
        let max = p
            .risk_distribution
            .iter()
            .map(|b| b.red + b.yellow + b.green)
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let mut chart = ChartBuilder::on(root)
            .caption("Risk distribution by band", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..1.0, 0.0..max * 1.08)?;
        chart
            .configure_mesh()
            .x_desc("churn risk")
            .y_desc("accounts")
            .x_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        for (k, name) in BANDS.iter().enumerate() {
            let colour = COLOURS[k];
            chart
                .draw_series(p.risk_distribution.iter().map(|b| {
                    let counts = [b.red, b.yellow, b.green];
                    let below: usize = counts[..k].iter().sum();
                    Rectangle::new(
                        [(b.from + 0.002, below as f64), (b.to - 0.002, (below + counts[k]) as f64)],
                        colour.filled(),
                    )
                }))?
                .label(*name)
                .legend(move |(x, y)| Rectangle::new([(x - 5, y - 5), (x + 5, y + 5)], colour.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

pub(super) fn groups_table(title: &str, groups: &[Group], money: &dyn Fn(f64) -> String) -> String {
    let mut h = format!(
        "<h3>{}</h3><table><tr><th>{}</th><th>accounts</th><th>ARR</th><th>expected ARR at risk</th><th>share of the risk</th><th>expansion potential</th><th>mean risk</th></tr>",
        esc(title),
        esc(title.trim_start_matches("By ").trim_start_matches("by "))
    );
    let total: f64 = groups.iter().map(|g| g.expected_arr_at_risk).sum();
    for g in groups {
        h += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{:.1}%</td></tr>",
            esc(&g.name),
            g.accounts,
            money(g.arr),
            money(g.expected_arr_at_risk),
            if total > 0.0 { 100.0 * g.expected_arr_at_risk / total } else { 0.0 },
            money(g.expansion_potential),
            100.0 * g.mean_risk
        );
    }
    h + "</table>"
}

pub(super) fn bars(title: &str, drivers: &[Driver]) -> String {
    let max = drivers.iter().map(|d| d.mean_abs_risk).fold(0.0, f64::max).max(1e-12);
    let upsell = drivers.iter().any(|d| d.mean_abs_upsell.is_some());
    let mut h = format!(
        "<h3>{}</h3><table class=bars><tr><th>name</th><th>mean |risk contribution| (log-odds)</th>{}</tr>",
        esc(title),
        if upsell { "<th>mean |upsell contribution|</th>" } else { "" }
    );
    for d in drivers {
        h += &format!(
            "<tr><td>{}</td><td><span class=bar style=\"width:{:.0}px\"></span> {:.3}</td>{}</tr>",
            esc(&d.name),
            240.0 * d.mean_abs_risk / max,
            d.mean_abs_risk,
            if upsell {
                format!(
                    "<td>{}</td>",
                    d.mean_abs_upsell.map(|u| format!("{u:.3}")).unwrap_or_else(|| "–".into())
                )
            } else {
                String::new()
            }
        );
    }
    h + "</table>"
}

/// The portfolio as one self-contained HTML page.
pub fn html(p: &Portfolio) -> String {
    let arr_known = p.arr_known;
    let money = move |x: f64| if arr_known { format_money(x) } else { format!("{x:.1}") };
    let mut h = String::from(
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>healthscore portfolio</title><style>\
         body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1160px;color:#222}\
         table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}\
         th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}\
         .charts{display:grid;grid-template-columns:1fr 1fr;gap:8px}figure{margin:0}.meta{color:#666}\
         .summary{background:#f5f8ff;border-left:4px solid #3b6fd8;padding:.6em 1em;font-size:1.05em}\
         .kpi{display:flex;gap:2em;margin:1em 0}.kpi div{font-size:.9em;color:#555}.kpi b{display:block;font-size:1.6em;color:#222}\
         .bar{display:inline-block;height:.8em;background:#3b6fd8;vertical-align:middle}.bars td:nth-child(2){text-align:left}\
         .red{color:#d62728}.yellow{color:#b07800}.green{color:#2ca02c}</style></head><body>",
    );
    h += "<h1>Portfolio health</h1>";
    h += &format!(
        "<p class=meta>{} accounts from {} · model version {}{}</p>",
        p.accounts,
        esc(&p.scores_file),
        esc(p.model_version.as_deref().unwrap_or("–")),
        if p.arr_known {
            ""
        } else {
            " · no ARR given: figures count accounts (expected churned accounts)"
        }
    );
    h += "<div class=summary>";
    for s in &p.summary {
        h += &format!("<p>{}</p>", esc(s));
    }
    h += "</div>";
    h += &format!(
        "<div class=kpi><div><b>{}</b>{}</div><div><b>{}</b>expected at risk (Σ risk × ARR)</div><div><b>{}</b>expansion potential (Σ upsell × ARR)</div></div>",
        money(p.total_arr),
        if p.arr_known { "total ARR" } else { "accounts" },
        money(p.expected_arr_at_risk),
        money(p.expansion_potential)
    );
    h += &format!(
        "<div class=charts><figure>{}</figure><figure>{}</figure></div>",
        map_chart(p),
        distribution_chart(p)
    );
    h += "<h2>Where the expected ARR at risk sits</h2>";
    h += &groups_table("By band", &p.by_band, &money);
    if !p.by_segment.is_empty() {
        h += &groups_table("By segment", &p.by_segment, &money);
    }
    h += &groups_table("By action", &p.by_action, &money);
    if let Some(m) = &p.migration {
        h += &format!(
            "<h2>Band migration since the previous run</h2><p>{} accounts fell a band ({} of ARR); {} accounts are new.</p>",
            m.fell,
            money(m.fell_arr),
            m.new_accounts
        );
        h += "<table><tr><th>previous ↓ / now →</th>";
        for b in &m.bands {
            h += &format!("<th class={b}>{b}</th>");
        }
        h += "</tr>";
        for (i, b) in m.bands.iter().enumerate() {
            h += &format!("<tr><td class={b}>{b}</td>");
            for j in 0..m.bands.len() {
                h += &format!("<td>{} <span class=meta>({})</span></td>", m.accounts[i][j], money(m.arr[i][j]));
            }
            h += "</tr>";
        }
        h += "</table>";
    }
    h += "<h2>What drives the portfolio</h2>";
    h += &bars("By category", &p.categories);
    h += &bars("By feature (top 12)", &p.features[..p.features.len().min(12)]);
    if !p.segment_categories.is_empty() {
        h += &segment_drivers(&p.segment_categories);
    }
    h += "<h2>The 25 accounts with the largest expected loss</h2><table><tr><th>account</th><th>band</th><th>risk</th><th>ARR</th><th>expected loss</th><th>top risk drivers (percentage points of risk, log-odds)</th></tr>";
    for t in &p.top_accounts {
        h += &format!(
            "<tr><td>{}</td><td class={}>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td><td style=\"text-align:left\">{}</td></tr>",
            esc(&t.account_id),
            esc(&t.band),
            esc(&t.band),
            100.0 * t.risk,
            money(t.arr),
            money(t.expected_arr_loss),
            esc(&t.drivers.join("; "))
        );
    }
    h += "</table>";
    if let Some(z) = &p.zombies {
        h += &format!(
            "<h2>Zombies: renewing on paper, barely using the product</h2><p>{} accounts ({} of ARR) are outside the red band \
             while their engagement and usage sit in the bottom of the training history. The model does not expect them to \
             churn; nobody uses what they pay for. {}</p>",
            z.accounts,
            money(z.arr),
            if z.accounts > 0 { "The largest:" } else { "" }
        );
        if !z.largest.is_empty() {
            h += "<table><tr><th>account</th><th>band</th><th>risk</th><th>ARR</th></tr>";
            for t in &z.largest {
                h += &format!(
                    "<tr><td>{}</td><td class={}>{}</td><td>{:.1}%</td><td>{}</td></tr>",
                    esc(&t.account_id),
                    esc(&t.band),
                    esc(&t.band),
                    100.0 * t.risk,
                    money(t.arr)
                );
            }
            h += "</table>";
        }
    }
    if let Some(c) = &p.clusters {
        h += &clusters_section(c, &money);
    }
    h += "</body></html>\n";
    h
}

/// Distinct colours for up to eight clusters (Okabe–Ito, colour-blind safe).
const CLUSTER_COLOURS: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

/// The usage clusters: a table of each cluster's size, money and band mix,
/// and their map on the first two principal components.
fn clusters_section(c: &UsageClusters, money: &dyn Fn(f64) -> String) -> String {
    let mut h = format!(
        "<h2>How accounts use the product: {} usage clusters</h2><p>Accounts grouped by k-means on {} (standardised as the \
         model sees them); k = {} had the best silhouette ({:.2}) of 3 to 8. Each cluster is named by the two features that set \
         it apart from the portfolio's average.</p>",
        c.k,
        esc(&c.features.join(", ")),
        c.k,
        c.silhouette
    );
    h += "<table><tr><th>cluster</th><th>what sets it apart</th><th>accounts</th><th>ARR</th><th>expected ARR at risk</th>\
          <th>mean risk</th><th>mean upsell</th><th>red / yellow / green</th></tr>";
    for (i, u) in c.clusters.iter().enumerate() {
        let colour = CLUSTER_COLOURS[i % CLUSTER_COLOURS.len()];
        h += &format!(
            "<tr><td><span style=\"color:rgb({},{},{})\">&#9679;</span> {}</td><td style=\"text-align:left\">{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{} / {} / {}</td></tr>",
            colour.0,
            colour.1,
            colour.2,
            esc(&u.name),
            esc(&u.label),
            u.accounts,
            money(u.arr),
            money(u.expected_arr_at_risk),
            100.0 * u.mean_risk,
            u.mean_upsell.map_or("—".to_string(), |v| format!("{:.1}%", 100.0 * v)),
            u.bands[0],
            u.bands[1],
            u.bands[2]
        );
    }
    h += "</table>";
    h += &cluster_map(c);
    h
}

/// The clusters on their first two principal components, a dot per account
/// of the fitting sample: colour = cluster, ring = band.
fn cluster_map(c: &UsageClusters) -> String {
    svg(560, 440, |root| {
        let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
        for &(x, y, _, _) in &c.map {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        if !x0.is_finite() || x0 >= x1 || y0 >= y1 {
            return Ok(());
        }
        let pad = |a: f64, b: f64| 0.05 * (b - a);
        let mut chart = ChartBuilder::on(root)
            .caption("Usage clusters: the first two principal components", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d((x0 - pad(x0, x1))..(x1 + pad(x0, x1)), (y0 - pad(y0, y1))..(y1 + pad(y0, y1)))?;
        chart
            .configure_mesh()
            .x_desc("first principal component")
            .y_desc("second principal component")
            .x_label_formatter(&|v| format!("{v:.1}"))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        for (k, u) in c.clusters.iter().enumerate() {
            let colour = CLUSTER_COLOURS[k % CLUSTER_COLOURS.len()];
            chart
                .draw_series(
                    c.map
                        .iter()
                        .filter(|q| q.2 == k)
                        .map(|&(x, y, _, _)| Circle::new((x, y), 2, colour.mix(0.5).filled())),
                )?
                .label(format!("{} {}", u.name, u.label))
                .legend(move |(x, y)| Circle::new((x, y), 5, colour.filled()));
        }
        // Red accounts ringed, so that where risk sits in each cluster shows.
        chart
            .draw_series(
                c.map
                    .iter()
                    .filter(|q| q.3 == Some(0))
                    .map(|&(x, y, _, _)| Circle::new((x, y), 4, COLOURS[0].stroke_width(1))),
            )?
            .label("red band")
            .legend(|(x, y)| Circle::new((x, y), 5, COLOURS[0].stroke_width(1)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 11))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// Mean |risk contribution| of each category within each segment: one row
/// per category, one column per segment, the largest of each column in bold.
fn segment_drivers(segments: &[SegmentDrivers]) -> String {
    let mut h = String::from("<h3>By category within each segment (mean |risk contribution|, log-odds)</h3><table><tr><th>category</th>");
    for s in segments {
        h += &format!("<th>{} ({} accounts)</th>", esc(&s.segment), s.accounts);
    }
    h += "</tr>";
    let order: Vec<&str> = segments[0].categories.iter().map(|d| d.name.as_str()).collect();
    for name in order {
        h += &format!("<tr><td>{}</td>", esc(name));
        for s in segments {
            let top = s.categories.first().map(|d| d.name.as_str());
            match s.categories.iter().find(|d| d.name == name) {
                Some(d) if top == Some(name) => h += &format!("<td><b>{:.3}</b></td>", d.mean_abs_risk),
                Some(d) => h += &format!("<td>{:.3}</td>", d.mean_abs_risk),
                None => h += "<td>–</td>",
            }
        }
        h += "</tr>";
    }
    h + "</table>"
}

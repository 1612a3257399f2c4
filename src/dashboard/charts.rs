//! Server-rendered SVG charts: titled, with axes and units, and readable without colour (the Okabe–Ito
//! palette, which colour-blind readers can tell apart, plus a distinct dash pattern and marker per line).
//! "Breached" is always drawn in one colour that reads as bad, vermillion (`BREACHED`), in every chart and
//! legend, and nothing else is.

use std::fmt::Write;

use crate::service::insights::Series;

/// Okabe & Ito (2008): distinguishable with every common colour-vision deficiency. Vermillion is kept
/// out of the rotation: it is `BREACHED`'s alone.
const COLOURS: [&str; 7] = [
    "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442",
];

/// Okabe–Ito vermillion: broken promises, wherever they are drawn.
pub const BREACHED: &str = "#D55E00";

/// A series or bar part named "breached" (any case, alone or first, as in "breached (p90)") is a broken
/// promise.
fn is_breached(name: &str) -> bool {
    let name = name.trim().to_lowercase();
    name == "breached" || name.starts_with("breached ")
}

/// The colour of the `i`-th series: `BREACHED` for breached ones, else the palette in turn.
fn colour(name: &str, i: usize) -> &'static str {
    if is_breached(name) {
        BREACHED
    } else {
        COLOURS[i % COLOURS.len()]
    }
}
const DASHES: [&str; 8] = ["", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 4", "3 6"];

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 230.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 42.0;

/// Text for SVG/HTML: the chart is inserted unescaped, so every label is escaped here.
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
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

/// A round step for about `n` ticks over `span`.
fn nice_step(span: f64, n: f64) -> f64 {
    let raw = (span / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

struct Frame {
    lo: f64,
    hi: f64,
    n: usize,
}

impl Frame {
    fn x(&self, i: usize) -> f64 {
        let plot = WIDTH - LEFT - RIGHT;
        if self.n <= 1 {
            LEFT + plot / 2.0
        } else {
            LEFT + plot * (i as f64 + 0.5) / self.n as f64
        }
    }
    fn y(&self, v: f64) -> f64 {
        let plot = HEIGHT - TOP - BOTTOM;
        TOP + plot * (1.0 - (v - self.lo) / (self.hi - self.lo))
    }
}

fn frame(values: impl Iterator<Item = f64>, n: usize, fixed: Option<(f64, f64)>) -> Frame {
    if let Some((lo, hi)) = fixed {
        return Frame { lo, hi, n };
    }
    let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    lo = lo.min(0.0);
    if hi <= lo {
        hi = lo + 1.0;
    }
    let step = nice_step(hi - lo, 4.0);
    Frame {
        lo: (lo / step).floor() * step,
        hi: (hi / step).ceil() * step,
        n,
    }
}

fn axes(svg: &mut String, f: &Frame, labels: &[String], unit: &str) {
    let step = nice_step(f.hi - f.lo, 4.0);
    let mut v = f.lo;
    while v <= f.hi + step * 1e-6 {
        let y = f.y(v);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#d9d9d2"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            esc(&fmt_num(v))
        );
        v += step;
    }
    let _ = write!(
        svg,
        r##"<text x="12" y="{:.1}" font-size="11" transform="rotate(-90 12 {:.1})" text-anchor="middle">{}</text>"##,
        TOP + (HEIGHT - TOP - BOTTOM) / 2.0,
        TOP + (HEIGHT - TOP - BOTTOM) / 2.0,
        esc(unit)
    );
    let every = labels.len().div_ceil(8).max(1);
    for (i, label) in labels.iter().enumerate() {
        if i % every == 0 || i + 1 == labels.len() {
            let _ = write!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"##,
                f.x(i),
                HEIGHT - BOTTOM + 16.0,
                esc(label)
            );
        }
    }
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#444"/><line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{:.1}" stroke="#444"/>"##,
        WIDTH - RIGHT,
        HEIGHT - BOTTOM,
        HEIGHT - BOTTOM,
        HEIGHT - BOTTOM
    );
}

fn marker(svg: &mut String, kind: usize, x: f64, y: f64, colour: &str, tip: &str) {
    let shape = match kind % 4 {
        0 => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.2" fill="{colour}">"#),
        1 => format!(
            r#"<rect x="{:.1}" y="{:.1}" width="6" height="6" fill="{colour}">"#,
            x - 3.0,
            y - 3.0
        ),
        2 => format!(
            r#"<path d="M{x:.1} {:.1} L{:.1} {:.1} L{:.1} {:.1} Z" fill="{colour}">"#,
            y - 4.0,
            x + 4.0,
            y + 3.0,
            x - 4.0,
            y + 3.0
        ),
        _ => format!(
            r#"<path d="M{x:.1} {:.1} L{:.1} {y:.1} L{x:.1} {:.1} L{:.1} {y:.1} Z" fill="{colour}">"#,
            y - 4.0,
            x + 4.0,
            y + 4.0,
            x - 4.0
        ),
    };
    let close = match kind % 4 {
        0 => "</circle>",
        1 => "</rect>",
        _ => "</path>",
    };
    let _ = write!(svg, "{shape}<title>{}</title>{close}", esc(tip));
}

fn open(title: &str) -> String {
    format!(
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif"><title>{}</title>"#,
        esc(title),
        esc(title)
    )
}

fn legend(names: &[(String, usize)]) -> String {
    if names.len() < 2 {
        return String::new();
    }
    let mut out = String::from(r#"<ul class="legend">"#);
    for (name, i) in names {
        let colour = colour(name, *i);
        let dash = DASHES[i % DASHES.len()];
        let mut swatch = format!(
            r#"<svg width="34" height="12" aria-hidden="true"><line x1="1" x2="33" y1="6" y2="6" stroke="{colour}" stroke-width="2.5" stroke-dasharray="{dash}"/>"#
        );
        marker(&mut swatch, *i, 17.0, 6.0, colour, name);
        swatch.push_str("</svg>");
        let _ = write!(out, "<li>{swatch} {}</li>", esc(name));
    }
    out.push_str("</ul>");
    out
}

/// Lines over buckets. `None` values leave gaps. `fixed`: a y range (e.g. 0–100 for percentages).
pub fn line_chart(
    title: &str,
    unit: &str,
    labels: &[String],
    series: &[Series],
    fixed: Option<(f64, f64)>,
) -> String {
    let n = labels.len();
    let f = frame(
        series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied()),
        n,
        fixed,
    );
    let mut svg = open(title);
    axes(&mut svg, &f, labels, unit);
    let mut names = Vec::new();
    let mut any = false;
    for (i, s) in series.iter().enumerate() {
        let colour = colour(&s.name, i);
        let dash = DASHES[i % DASHES.len()];
        let mut d = String::new();
        let mut pen_down = false;
        for (k, v) in s.values.iter().enumerate().take(n) {
            match v {
                Some(v) => {
                    any = true;
                    let _ = write!(
                        d,
                        "{}{:.1} {:.1} ",
                        if pen_down { "L" } else { "M" },
                        f.x(k),
                        f.y(*v)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        if !d.is_empty() {
            let _ = write!(
                svg,
                r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
                d.trim_end()
            );
        }
        for (k, v) in s.values.iter().enumerate().take(n) {
            if let Some(v) = v {
                let tip = format!(
                    "{}, {}: {} {}",
                    s.name,
                    labels.get(k).map(String::as_str).unwrap_or(""),
                    fmt_num(*v),
                    unit
                );
                marker(&mut svg, i, f.x(k), f.y(*v), colour, &tip);
            }
        }
        names.push((s.name.clone(), i));
    }
    if !any {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13" fill="#555">No data in this period</text>"##,
            LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
            TOP + (HEIGHT - TOP - BOTTOM) / 2.0
        );
    }
    svg.push_str("</svg>");
    svg.push_str(&legend(&names));
    svg
}

/// Stacked bars over buckets (counts), one colour and hatch-free order per part; each part named in the
/// legend and in every bar's tooltip.
pub fn stacked_bars(
    title: &str,
    unit: &str,
    labels: &[String],
    parts: &[(String, Vec<f64>)],
) -> String {
    let n = labels.len();
    let totals: Vec<f64> = (0..n)
        .map(|k| {
            parts
                .iter()
                .map(|(_, v)| v.get(k).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let f = frame(totals.iter().copied(), n, None);
    let mut svg = open(title);
    axes(&mut svg, &f, labels, unit);
    let plot = WIDTH - LEFT - RIGHT;
    let bar = (plot / n.max(1) as f64 * 0.7).max(1.0);
    for k in 0..n {
        let mut base = 0.0;
        for (i, (name, values)) in parts.iter().enumerate() {
            let v = values.get(k).copied().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let (y0, y1) = (f.y(base), f.y(base + v));
            let _ = write!(
                svg,
                r##"<rect x="{:.1}" y="{:.1}" width="{bar:.1}" height="{:.1}" fill="{}" stroke="#fff" stroke-width="0.5"><title>{}</title></rect>"##,
                f.x(k) - bar / 2.0,
                y1,
                (y0 - y1).max(0.0),
                colour(name, i),
                esc(&format!(
                    "{}, {}: {} {}",
                    name,
                    labels.get(k).map(String::as_str).unwrap_or(""),
                    fmt_num(v),
                    unit
                ))
            );
            base += v;
        }
    }
    svg.push_str("</svg>");
    let mut out = String::from(r#"<ul class="legend">"#);
    for (i, (name, _)) in parts.iter().enumerate() {
        let _ = write!(
            out,
            r#"<li><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill="{}"/></svg> {}</li>"#,
            colour(name, i),
            esc(name)
        );
    }
    out.push_str("</ul>");
    svg.push_str(&out);
    svg
}

/// One step of a journey map, as `journey_map` draws it.
pub struct MapStep {
    pub name: String,
    pub customer_sees: bool,
    pub reached: u64,
    /// From the previous step (none for the first).
    pub conversion: Option<f64>,
    pub p50: Option<String>,
    pub p90: Option<String>,
    pub breaches: u64,
    pub nudges: u64,
    pub unhappy: u64,
}

const MAP_COL: f64 = 232.0;
const MAP_BOX: f64 = 132.0;
const MAP_LANE: f64 = 160.0;
const MAP_TOP: f64 = 30.0;
const MAP_LEFT: f64 = 120.0;
const MAP_BAND: f64 = 52.0;

/// A journey map: two lanes (what the customer sees above, what happens behind the scenes below), each
/// step a box in its lane, as tall as the share of entered journeys that reached it; edges as thick as the
/// conversion, each labelled with the conversion and the p50 / p90 time from the previous step in the band
/// between the lanes; frustration (breaches in vermillion, nudges, unhappy answers) under each box. Every
/// figure is also text, so the map reads without colour.
pub fn journey_map(title: &str, entered: u64, steps: &[MapStep]) -> String {
    let n = steps.len().max(1);
    let width = MAP_LEFT + MAP_COL * n as f64;
    let height = MAP_TOP + 2.0 * MAP_LANE + MAP_BAND + 24.0;
    let lane_top = |sees: bool| {
        if sees {
            MAP_TOP
        } else {
            MAP_TOP + MAP_LANE + MAP_BAND
        }
    };
    let mut svg = format!(
        r#"<svg class="journey-map" viewBox="0 0 {width:.0} {height:.0}" width="100%" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif"><title>{}</title>"#,
        esc(title),
        esc(title)
    );
    for (sees, label) in [
        (true, "What the customer sees"),
        (false, "Behind the scenes"),
    ] {
        let top = lane_top(sees);
        let _ = write!(
            svg,
            r##"<rect x="4" y="{top:.1}" width="{:.1}" height="{MAP_LANE:.1}" fill="{}" stroke="#d0d4d1"/><text x="12" y="{:.1}" font-size="12" font-weight="600" fill="#333">{}</text>"##,
            width - 8.0,
            if sees { "#f6f8f7" } else { "#eef0f5" },
            top + 18.0,
            esc(label)
        );
    }
    // Boxes: centre of column k, vertically centred in the lane; height by the share that reached.
    let geometry: Vec<(f64, f64, f64)> = steps
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let share = if entered > 0 {
                s.reached as f64 / entered as f64
            } else {
                0.0
            };
            let h = 22.0 + 70.0 * share.clamp(0.0, 1.0);
            let x = MAP_LEFT + MAP_COL * k as f64;
            let y = lane_top(s.customer_sees) + 26.0 + (92.0 - h) / 2.0;
            (x, y, h)
        })
        .collect();
    let band_y = MAP_TOP + MAP_LANE + MAP_BAND / 2.0;
    for k in 1..steps.len() {
        let (x0, y0, h0) = geometry[k - 1];
        let (x1, y1, h1) = geometry[k];
        let s = &steps[k];
        let (sx, sy) = (x0 + MAP_BOX, y0 + h0 / 2.0);
        let (ex, ey) = (x1, y1 + h1 / 2.0);
        let mid = (sx + ex) / 2.0;
        let thick = 1.5 + 6.0 * s.conversion.unwrap_or(0.0).clamp(0.0, 1.0);
        let _ = write!(
            svg,
            r##"<path d="M{sx:.1} {sy:.1} C{mid:.1} {sy:.1} {mid:.1} {ey:.1} {ex:.1} {ey:.1}" fill="none" stroke="#5b6b63" stroke-width="{thick:.1}" stroke-opacity="0.55"/>"##
        );
        let conversion = s
            .conversion
            .map(|c| format!("{:.0}%", c * 100.0))
            .unwrap_or_else(|| "—".into());
        let times = format!(
            "p50 {} · p90 {}",
            s.p50.as_deref().unwrap_or("—"),
            s.p90.as_deref().unwrap_or("—")
        );
        let tip = format!(
            "{} → {}: {conversion} continue; {times}",
            steps[k - 1].name,
            s.name
        );
        let _ = write!(
            svg,
            r##"<g><title>{}</title><rect x="{:.1}" y="{:.1}" width="150" height="34" rx="4" fill="#ffffff" stroke="#9aa59f"/><text x="{mid:.1}" y="{:.1}" text-anchor="middle" font-size="12" font-weight="600" fill="#1f2421">→ {}</text><text x="{mid:.1}" y="{:.1}" text-anchor="middle" font-size="10" fill="#333">{}</text></g>"##,
            esc(&tip),
            mid - 75.0,
            band_y - 17.0,
            band_y - 3.0,
            esc(&conversion),
            band_y + 11.0,
            esc(&times)
        );
    }
    for (s, (x, y, h)) in steps.iter().zip(&geometry) {
        let share = if entered > 0 {
            format!(" ({:.0}%)", s.reached as f64 * 100.0 / entered as f64)
        } else {
            String::new()
        };
        let (fill, stroke) = if s.customer_sees {
            ("#cfe3f1", "#0072B2")
        } else {
            ("#d9d4ea", "#56509a")
        };
        let _ = write!(
            svg,
            r##"<g><title>{}: {} reached{}</title><rect x="{x:.1}" y="{y:.1}" width="{MAP_BOX:.1}" height="{h:.1}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13" font-weight="600" fill="#1f2421">{}</text><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11" fill="#1f2421">{} reached{}</text></g>"##,
            esc(&s.name),
            s.reached,
            esc(&share),
            x + MAP_BOX / 2.0,
            y + h / 2.0 - 2.0,
            esc(&s.name),
            x + MAP_BOX / 2.0,
            y + h / 2.0 + 12.0,
            s.reached,
            esc(&share)
        );
        // Frustration under the box: breaches in vermillion (and marked), the rest in grey.
        let mut fy = y + h + 13.0;
        let fx = *x;
        if s.breaches > 0 {
            let text = format!(
                "▲ {} breach{}",
                s.breaches,
                if s.breaches == 1 { "" } else { "es" }
            );
            let _ = write!(
                svg,
                r#"<text x="{fx:.1}" y="{fy:.1}" font-size="11" font-weight="600" fill="{BREACHED}">{}</text>"#,
                esc(&text)
            );
            fy += 13.0;
        }
        let mut rest = Vec::new();
        if s.nudges > 0 {
            rest.push(format!(
                "{} nudge{}",
                s.nudges,
                if s.nudges == 1 { "" } else { "s" }
            ));
        }
        if s.unhappy > 0 {
            rest.push(format!("{} unhappy", s.unhappy));
        }
        if !rest.is_empty() {
            let _ = write!(
                svg,
                r##"<text x="{fx:.1}" y="{fy:.1}" font-size="11" fill="#4d5450">{}</text>"##,
                esc(&rest.join(" · "))
            );
        }
    }
    if steps.is_empty() || entered == 0 {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13" fill="#555">No journey entered in this period</text>"##,
            width / 2.0,
            band_y + 4.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A weekday × hour heatmap of waits: `cells[day][hour]` = (visits, median wait in seconds), Monday first.
/// One sequential blue scale (light = short, dark = long, by the largest median shown); hours nobody visited
/// stay blank; each cell's tooltip gives the figures, and the median in minutes is written in cells with
/// visits so the chart reads without colour too.
pub fn heatmap(cells: &[Vec<(u32, Option<i64>)>], title: &str) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    // Light to dark (ColorBrewer Blues, 5 classes); text switches to white on the two darkest.
    const BLUES: [&str; 5] = ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"];
    let (cell, left, top) = (34.0, 40.0, 22.0);
    let width = left + 24.0 * cell + 4.0;
    let height = top + 7.0 * cell + 4.0;
    let max = cells
        .iter()
        .flatten()
        .filter_map(|(_, m)| *m)
        .max()
        .unwrap_or(0)
        .max(60);
    let mut svg = format!(
        r#"<svg class="chart heatmap" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="11"><title>{}</title>"#,
        esc(title),
        esc(title)
    );
    for hour in 0..24 {
        let x = left + hour as f64 * cell + cell / 2.0;
        let _ = write!(
            svg,
            r##"<text x="{x}" y="{}" text-anchor="middle" fill="#3d4340">{hour:02}</text>"##,
            top - 6.0
        );
    }
    for (d, day) in DAYS.iter().enumerate() {
        let y = top + d as f64 * cell;
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="end" fill="#3d4340">{day}</text>"##,
            left - 6.0,
            y + cell / 2.0 + 4.0
        );
        for hour in 0..24 {
            let (visits, median) = cells
                .get(d)
                .and_then(|row| row.get(hour))
                .copied()
                .unwrap_or((0, None));
            let x = left + hour as f64 * cell;
            let Some(median) = median.filter(|_| visits > 0) else {
                let _ = write!(
                    svg,
                    r##"<rect x="{x}" y="{y}" width="{}" height="{}" fill="#ffffff" stroke="#e3e5e4"><title>{day} {hour:02}:00 – no visits</title></rect>"##,
                    cell - 1.0,
                    cell - 1.0
                );
                continue;
            };
            let class = ((median as f64 / max as f64) * (BLUES.len() as f64 - 0.001)) as usize;
            let class = class.min(BLUES.len() - 1);
            let minutes = (median + 30) / 60;
            let text = if class >= 3 { "#ffffff" } else { "#1f2421" };
            let _ = write!(
                svg,
                r##"<rect x="{x}" y="{y}" width="{w}" height="{w}" fill="{fill}"><title>{day} {hour:02}:00 – {visits} visits, median wait {minutes} min</title></rect><text x="{tx}" y="{ty}" text-anchor="middle" fill="{text}" aria-hidden="true">{minutes}</text>"##,
                w = cell - 1.0,
                fill = BLUES[class],
                tx = x + cell / 2.0,
                ty = y + cell / 2.0 + 4.0,
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("d{i}")).collect()
    }

    fn map_step(name: &str, sees: bool, reached: u64, breaches: u64) -> MapStep {
        MapStep {
            name: name.into(),
            customer_sees: sees,
            reached,
            conversion: Some(0.5),
            p50: Some("1 h".into()),
            p90: Some("3 h".into()),
            breaches,
            nudges: 2,
            unhappy: 0,
        }
    }

    #[test]
    fn a_journey_map_has_two_lanes_sized_boxes_labelled_edges_and_vermillion_breaches_only() {
        let steps = vec![
            map_step("<booked>", true, 10, 0),
            map_step("packed", false, 5, 3),
            map_step("sent", true, 5, 0),
        ];
        let svg = journey_map("Order & more", 10, &steps);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("What the customer sees") && svg.contains("Behind the scenes"));
        assert!(svg.contains("&lt;booked&gt;") && !svg.contains("<booked>"));
        assert!(svg.contains("<title>Order &amp; more</title>"));
        // Two edges, each with its conversion and times.
        assert_eq!(svg.matches("→ 50%").count(), 2, "{svg}");
        assert_eq!(
            svg.matches("p50 1 h · p90 3 h").count(),
            4,
            "label and tooltip"
        );
        // The full box is taller than the half one; the backstage box is in the lower lane.
        assert!(svg.contains(r#"height="92.0" rx="6""#) && svg.contains(r#"height="57.0" rx="6""#));
        // Vermillion marks the breaches and nothing else.
        assert_eq!(svg.matches(BREACHED).count(), 1, "{svg}");
        assert!(svg.contains("▲ 3 breaches"));
        assert!(svg.contains("2 nudges"));
        let empty = journey_map("Nothing", 0, &steps);
        assert!(empty.contains("No journey entered in this period"));
    }

    #[test]
    fn a_line_chart_has_title_axes_units_and_escaped_names() {
        let series = vec![
            Series {
                name: "<script>".into(),
                values: vec![Some(10.0), None, Some(30.0)],
            },
            Series {
                name: "b".into(),
                values: vec![Some(5.0), Some(6.0), Some(7.0)],
            },
        ];
        let svg = line_chart("Kept & late", "%", &labels(3), &series, Some((0.0, 100.0)));
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<title>Kept &amp; late</title>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;") && !svg.contains("<script>"));
        assert!(
            svg.contains(">100<") && svg.contains(">0<"),
            "y ticks 0..100: {svg}"
        );
        assert!(svg.contains(">%<"), "unit label");
        // The gap at the None value starts a new sub-path.
        assert_eq!(
            svg.matches(" M").count() + svg.matches("\"M").count(),
            3,
            "{svg}"
        );
        assert!(
            svg.contains("stroke-dasharray=\"6 3\""),
            "second line dashed"
        );
        assert!(svg.contains("class=\"legend\""));
    }

    #[test]
    fn empty_charts_say_so_and_bars_stack() {
        let svg = line_chart(
            "t",
            "h",
            &labels(2),
            &[Series {
                name: "x".into(),
                values: vec![None, None],
            }],
            None,
        );
        assert!(svg.contains("No data in this period"));
        let bars = stacked_bars(
            "t",
            "promises",
            &labels(2),
            &[
                ("kept".into(), vec![3.0, 0.0]),
                ("late".into(), vec![1.0, 2.0]),
            ],
        );
        assert_eq!(
            bars.matches("<rect x=").count(),
            3,
            "zero parts draw nothing"
        );
        assert!(bars.contains("kept, d0: 3 promises"));
    }

    fn names_breached(svg_after: &str) -> bool {
        // The element's own <title> (bars, markers) or the legend item's text after its swatch.
        let title = svg_after
            .split("<title>")
            .nth(1)
            .and_then(|t| t.split("</title>").next())
            .unwrap_or("");
        title.starts_with("breached")
    }

    #[test]
    fn breached_is_vermillion_in_every_chart_and_legend_and_nothing_else_is() {
        let parts = |order: &[&str]| -> Vec<(String, Vec<f64>)> {
            order
                .iter()
                .map(|n| (n.to_string(), vec![2.0, 1.0]))
                .collect()
        };
        // Wherever breached comes in the list, and whatever else is drawn.
        for order in [
            &["kept on time", "kept late", "breached", "open"][..],
            &["breached", "kept on time"][..],
            &["a", "b", "c", "d", "e", "f", "g", "h", "Breached"][..],
        ] {
            let svg = stacked_bars("t", "promises", &labels(2), &parts(order));
            let chart = svg.split("</svg>").next().unwrap();
            let bars: Vec<&str> = chart.split("<rect x=").skip(1).collect();
            assert!(!bars.is_empty());
            for bar in bars {
                let breached = names_breached(&bar.to_lowercase());
                assert_eq!(bar.contains(BREACHED), breached, "{order:?}: {bar}");
            }
            let legend = svg.split(r#"<ul class="legend">"#).nth(1).unwrap();
            for item in legend.split("<li>").skip(1) {
                let breached = item.to_lowercase().contains("</svg> breached");
                assert_eq!(item.contains(BREACHED), breached, "{order:?}: {item}");
            }
        }
        for position in 0..9 {
            let mut series: Vec<Series> = (0..9)
                .map(|i| Series {
                    name: format!("series {i}"),
                    values: vec![Some(i as f64), Some(1.0)],
                })
                .collect();
            series[position].name = "breached".into();
            let svg = line_chart("t", "n", &labels(2), &series, None);
            let chart = svg.split("</svg>").next().unwrap();
            // Each line, then its markers (each titled with the series' name).
            let lines: Vec<&str> = chart.split(r#"fill="none" stroke=""#).skip(1).collect();
            assert_eq!(lines.len(), 9);
            for line in lines {
                let breached = names_breached(line);
                let expected = if breached { 1 + 2 } else { 0 };
                assert_eq!(
                    line.matches(BREACHED).count(),
                    expected,
                    "position {position}: {line}"
                );
                assert_eq!(line.starts_with(BREACHED), breached);
            }
            let legend = svg.split(r#"<ul class="legend">"#).nth(1).unwrap();
            for item in legend.split("<li>").skip(1) {
                let breached = item.contains("</svg> breached");
                assert_eq!(
                    item.contains(BREACHED),
                    breached,
                    "position {position}: {item}"
                );
            }
        }
    }

    #[test]
    fn nice_ticks() {
        assert_eq!(nice_step(100.0, 4.0), 50.0);
        assert_eq!(nice_step(7.0, 4.0), 2.0);
        assert!((nice_step(0.3, 4.0) - 0.1).abs() < 1e-12);
    }
}

//! Report charts as server-rendered SVG (issue 17), drawn with `plotters` (SVG backend only: no
//! fonts, bitmaps or JavaScript). Each chart is inlined in its page, hidden from assistive
//! technology (`aria-hidden`), and followed by a table of the same figures, which is what a screen
//! reader reads, and by a link to the same figures as CSV.

use plotters::prelude::*;
use plotters::coord::ranged1d::SegmentValue;

/// NHS identity colours, in the order series use them.
const PALETTE: [RGBColor; 9] = [
    RGBColor(0x00, 0x5e, 0xb8), // NHS blue
    RGBColor(0x00, 0x7f, 0x3b), // green
    RGBColor(0xff, 0xb8, 0x1c), // warm yellow
    RGBColor(0xd5, 0x28, 0x1b), // red
    RGBColor(0x33, 0x00, 0x72), // purple
    RGBColor(0x00, 0xa4, 0x99), // aqua green
    RGBColor(0xae, 0x25, 0x73), // pink
    RGBColor(0x76, 0x86, 0x92), // mid grey
    RGBColor(0x00, 0x30, 0x87), // dark blue
];

const SIZE: (u32, u32) = (760, 320);

/// One series of a bar chart: a name (for the legend) and a value per category.
pub struct Series<'a> {
    pub name: &'a str,
    pub values: Vec<f64>,
}

/// How bars of several series are drawn.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// On top of each other (parts of a whole, e.g. the outcome mix).
    Stacked,
    /// One series as bars, the rest as lines over them.
    BarsAndLines,
}

/// Marks the chart as decoration for assistive technology (the table beside it carries the
/// figures) and lets CSS scale it.
fn finish(svg: String) -> String {
    svg.replacen("<svg ", "<svg aria-hidden=\"true\" focusable=\"false\" class=\"app-chart\" ", 1)
}

/// A bar chart over `categories` (e.g. weeks), every series in its own colour with a legend when
/// there is more than one. An empty chart (nothing to draw) is `None`.
pub fn bars(categories: &[String], series: &[Series], layout: Layout, y_label: &str) -> Option<String> {
    if categories.is_empty() || series.is_empty() {
        return None;
    }
    let n = categories.len();
    let top = match layout {
        Layout::Stacked => (0..n).map(|i| series.iter().map(|s| s.values.get(i).copied().unwrap_or(0.0)).sum::<f64>()).fold(0.0, f64::max),
        Layout::BarsAndLines => series.iter().flat_map(|s| s.values.iter().copied()).fold(0.0, f64::max),
    };
    let top = nice_top(top);
    let mut svg = String::new();
    let drawn: Result<(), Box<dyn std::error::Error>> = (|| {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d((0..n).into_segmented(), 0.0..top)?;
        let every = n.div_ceil(12).max(1);
        let label = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) if i % every == 0 => categories.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&label)
            .y_desc(y_label)
            .y_label_formatter(&|v| if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") })
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .draw()?;
        let mut base = vec![0.0; n];
        for (k, s) in series.iter().enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            let as_line = layout == Layout::BarsAndLines && k > 0;
            let drawn = if as_line {
                chart.draw_series(LineSeries::new(
                    s.values.iter().enumerate().map(|(i, v)| (SegmentValue::CenterOf(i), *v)),
                    colour.stroke_width(3),
                ))?
            } else {
                let bars: Vec<Rectangle<(SegmentValue<usize>, f64)>> = s
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let from = if layout == Layout::Stacked { base[i] } else { 0.0 };
                        let mut bar = Rectangle::new([(SegmentValue::Exact(i), from), (SegmentValue::Exact(i + 1), from + v)], colour.filled());
                        bar.set_margin(0, 0, 3, 3);
                        bar
                    })
                    .collect();
                if layout == Layout::Stacked {
                    for (i, v) in s.values.iter().enumerate() {
                        base[i] += v;
                    }
                }
                chart.draw_series(bars)?
            };
            if series.len() > 1 {
                drawn.label(s.name).legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
            }
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .label_font(("sans-serif", 12))
                .draw()?;
        }
        root.present()?;
        Ok(())
    })();
    match drawn {
        Ok(()) => Some(finish(svg)),
        Err(e) => {
            tracing::warn!(error = %e, "a report chart could not be drawn; the table still shows its figures");
            None
        }
    }
}

/// A round number at or above `max` for the top of the y axis (at least 1).
fn nice_top(max: f64) -> f64 {
    if max <= 1.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= max {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_svg_hidden_from_screen_readers_with_its_labels() {
        let cats = vec!["2026-01-05".to_string(), "2026-01-12".to_string()];
        let svg = bars(&cats, &[Series { name: "Referrals", values: vec![3.0, 7.0] }], Layout::Stacked, "Referrals").unwrap();
        assert!(svg.starts_with("<svg aria-hidden=\"true\""), "{}", &svg[..80]);
        assert!(svg.contains("2026-01-05") && svg.contains("<rect"), "{svg}");
        assert!(!svg.contains("style="), "inline styles are refused by the CSP");
    }

    #[test]
    fn nice_tops() {
        assert_eq!(nice_top(0.0), 1.0);
        assert_eq!(nice_top(7.0), 10.0);
        assert_eq!(nice_top(13.0), 20.0);
        assert_eq!(nice_top(240.0), 250.0);
    }
}

//! Small charts drawn on the server as inline SVG: the geometry is computed here,
//! the template only places it.

/// A horizontal bar chart: one labelled bar a row.
#[derive(askama::Template)]
#[template(path = "admin/chart.html")]
pub struct BarChart {
    pub title: String,
    pub width: u32,
    pub height: u32,
    pub bars: Vec<Bar>,
}

pub struct Bar {
    pub label: String,
    pub value: u64,
    pub y: u32,
    pub width: u32,
    /// Where the value is written.
    pub value_x: u32,
    pub class: &'static str,
}

const ROW: u32 = 22;
const LABEL: u32 = 130;
const PLOT: u32 = 260;

impl BarChart {
    /// `rows`: label, value and a CSS class that colours the bar.
    pub fn new(title: impl Into<String>, rows: Vec<(String, u64, &'static str)>) -> Self {
        let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
        let bars = rows
            .into_iter()
            .enumerate()
            .map(|(i, (label, value, class))| {
                let width = ((value as f64 / max as f64) * PLOT as f64).round() as u32;
                let width = if value > 0 { width.max(2) } else { 0 };
                Bar {
                    label,
                    value,
                    y: i as u32 * ROW,
                    width,
                    value_x: LABEL + width + 6,
                    class,
                }
            })
            .collect::<Vec<_>>();
        Self {
            title: title.into(),
            width: LABEL + PLOT + 60,
            height: (bars.len() as u32 * ROW).max(ROW),
            bars,
        }
    }

    pub fn label_width(&self) -> u32 {
        LABEL
    }

    /// The chart read aloud: `label: value` for each bar.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .bars
            .iter()
            .map(|b| format!("{}: {}", b.label, b.value))
            .collect();
        format!("{}. {}", self.title, parts.join(", "))
    }
}

/// A ring showing a share from 0 to 1 (a success rate).
pub struct Ring {
    pub percent: Option<f64>,
    /// The stroke's dash: the filled length, then the rest of the circumference.
    pub dash: String,
}

const RADIUS: f64 = 36.0;

impl Ring {
    pub fn new(share: Option<f64>) -> Self {
        let circumference = 2.0 * std::f64::consts::PI * RADIUS;
        let filled = share.unwrap_or(0.0).clamp(0.0, 1.0) * circumference;
        Self {
            percent: share.map(|s| (s * 1000.0).round() / 10.0),
            dash: format!("{filled:.1} {:.1}", circumference - filled),
        }
    }

    pub fn radius(&self) -> f64 {
        RADIUS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_a_zero_draws_nothing() {
        let chart = BarChart::new(
            "Jobs",
            vec![
                ("a".into(), 10, "ok"),
                ("b".into(), 5, "ok"),
                ("c".into(), 0, "ok"),
            ],
        );
        assert_eq!(chart.bars[0].width, PLOT);
        assert_eq!(chart.bars[1].width, PLOT / 2);
        assert_eq!(chart.bars[2].width, 0);
        assert_eq!(chart.bars[2].y, 2 * ROW);
        assert_eq!(chart.summary(), "Jobs. a: 10, b: 5, c: 0");
    }

    #[test]
    fn a_ring_fills_its_share_of_the_circle() {
        let ring = Ring::new(Some(0.25));
        assert_eq!(ring.percent, Some(25.0));
        let filled: f64 = ring.dash.split(' ').next().unwrap().parse().unwrap();
        assert!((filled - 2.0 * std::f64::consts::PI * RADIUS / 4.0).abs() < 0.1);
        assert_eq!(Ring::new(None).percent, None);
    }
}

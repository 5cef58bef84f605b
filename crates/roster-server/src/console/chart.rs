//! The overview's chart: sign-ins and SCIM changes per UTC day over the last 30 days,
//! drawn on the server as an inline SVG (no script, no style attribute: the bars take
//! their colours from the stylesheet), with the same figures in a table for screen
//! readers and for copying.

use roster_store::activity::{Day, DAY_MS};

/// Days shown, today included.
pub const DAYS: i64 = 30;

const WIDTH: i64 = 720;
const HEIGHT: i64 = 160;
const SLOT: i64 = WIDTH / DAYS;

pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    /// `signin` or `scim`: the bar's class, hence its colour.
    pub series: &'static str,
    pub label: String,
}

pub struct Tick {
    pub x: i64,
    pub label: String,
}

pub struct Chart {
    pub width: i64,
    pub height: i64,
    pub bars: Vec<Bar>,
    pub ticks: Vec<Tick>,
    /// The largest daily figure: the top of the scale.
    pub top: i64,
    /// Every day, oldest first: (date, sign-ins, SCIM changes).
    pub rows: Vec<(String, i64, i64)>,
    pub sign_ins: i64,
    pub scim_changes: i64,
}

/// The first day shown when it is `now` (ms).
pub fn first_day(now: i64) -> i64 {
    now.div_euclid(DAY_MS) - (DAYS - 1)
}

fn date(day: i64) -> String {
    let t = crate::routes::ts(day * DAY_MS);
    t.get(..10).unwrap_or(&t).to_string()
}

/// The chart of `days` (any order, days without activity left out) ending today.
pub fn draw(days: &[Day], now: i64) -> Chart {
    let first = first_day(now);
    let mut all = vec![Day::default(); DAYS as usize];
    for d in days {
        if let Some(slot) = usize::try_from(d.day - first).ok().and_then(|i| all.get_mut(i)) {
            *slot = *d;
        }
    }
    let top = all
        .iter()
        .map(|d| d.sign_ins.max(d.scim_changes))
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = |n: i64| (n * (HEIGHT - 20) + top - 1) / top;
    let mut bars = Vec::new();
    let mut ticks = Vec::new();
    let mut rows = Vec::new();
    let bar = (SLOT - 4) / 2;
    for (i, d) in (0..).zip(all.iter()) {
        let day = first + i;
        let x = i * SLOT + 2;
        let label = date(day);
        for (offset, n, series, what) in [
            (0, d.sign_ins, "signin", "sign-ins"),
            (bar, d.scim_changes, "scim", "SCIM changes"),
        ] {
            let h = scale(n);
            bars.push(Bar {
                x: x + offset,
                y: HEIGHT - h,
                width: bar,
                height: h,
                series,
                label: format!("{label}: {n} {what}"),
            });
        }
        if i % 7 == 0 || i == DAYS - 1 {
            ticks.push(Tick {
                x,
                label: label.get(5..).unwrap_or(&label).to_string(),
            });
        }
        rows.push((label, d.sign_ins, d.scim_changes));
    }
    Chart {
        width: WIDTH,
        height: HEIGHT,
        sign_ins: all.iter().map(|d| d.sign_ins).sum(),
        scim_changes: all.iter().map(|d| d.scim_changes).sum(),
        bars,
        ticks,
        top,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_day_has_its_bars_and_the_tallest_reaches_the_top() {
        let now = 100 * DAY_MS + 5_000;
        let days = [
            Day {
                day: 100,
                sign_ins: 4,
                scim_changes: 8,
            },
            Day {
                day: 80,
                sign_ins: 1,
                scim_changes: 0,
            },
            // Before the window: left out.
            Day {
                day: 60,
                sign_ins: 99,
                scim_changes: 99,
            },
        ];
        let c = draw(&days, now);
        assert_eq!(c.rows.len(), 30);
        assert_eq!(c.bars.len(), 60);
        assert_eq!((c.sign_ins, c.scim_changes, c.top), (5, 8, 8));
        let last = &c.bars[59];
        assert_eq!((last.series, last.y, last.height), ("scim", 20, 140));
        let today_signins = &c.bars[58];
        assert_eq!(today_signins.height, 70);
        assert!(today_signins.label.ends_with(": 4 sign-ins"), "{}", today_signins.label);
        // A day with one sign-in still shows a bar; a day with none shows none.
        assert_eq!(c.bars[2 * 9].height, 18);
        assert_eq!(c.bars[0].height, 0);
        assert!(c.bars.iter().all(|b| b.y >= 0 && b.y + b.height == HEIGHT));
    }
}

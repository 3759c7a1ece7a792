//! Renders the notebook's figures (and edge cases) with synthetic data into
//! a fresh temp directory and checks the files that come out.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use gradtape_plot::{plot_panels, plot_xy, Panel, PlotError, Series, XyPlot, XySeries};

const PNG_MAGIC: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// A unique, empty directory under the system temp dir for one test.
fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "gradtape-plot-{}-{}-{name}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    cleanup(&dir);
    dir
}

/// Removes a test's output, unless `GRADTAPE_PLOT_KEEP` is set (to look at
/// the figures).
fn cleanup(dir: &Path) {
    if std::env::var_os("GRADTAPE_PLOT_KEEP").is_some() {
        eprintln!("kept {}", dir.display());
    } else {
        let _ = fs::remove_dir_all(dir);
    }
}

/// A rising, saturating accuracy curve with a little deterministic wiggle.
fn curve(epochs: usize, start: f64, end: f64, phase: f64) -> Vec<f64> {
    (0..epochs)
        .map(|e| {
            let t = e as f64 / (epochs.max(2) - 1) as f64;
            start + (end - start) * (1.0 - (-4.0 * t).exp()) + 0.01 * (phase + e as f64).sin()
        })
        .collect()
}

fn panel(title: &str, series: Vec<Series>) -> Panel {
    Panel {
        title: title.into(),
        x_label: "Epoch".into(),
        y_label: "Accuracy".into(),
        series,
        hline: None,
        y_range: None,
    }
}

fn series(label: &str, values: Vec<f64>) -> Series {
    Series {
        label: label.into(),
        values,
    }
}

/// Checks both files and returns the SVG text.
fn check_outputs(png: &Path, svg: &Path) -> String {
    let png_bytes = fs::read(png).expect("png written");
    assert!(
        png_bytes.len() > 1000,
        "png suspiciously small: {} bytes",
        png_bytes.len()
    );
    assert_eq!(&png_bytes[..8], &PNG_MAGIC, "png magic");
    let svg_text = fs::read_to_string(svg).expect("svg written");
    assert!(
        svg_text.starts_with("<svg"),
        "svg header: {:?}",
        &svg_text[..40.min(svg_text.len())]
    );
    assert!(svg_text.trim_end().ends_with("</svg>"));
    svg_text
}

/// The contents of every `<text>` element of an SVG, trimmed.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

/// Asserts that each of `texts` is the whole content of some `<text>`.
fn assert_has_text(svg: &str, texts: &[&str]) {
    let found = svg_texts(svg);
    for t in texts {
        assert!(
            found.iter().any(|f| f == t),
            "svg lacks text {t:?}; has {found:?}"
        );
    }
}

/// The points of every `<polyline>`, in document order.
fn polylines(svg: &str) -> Vec<Vec<(f64, f64)>> {
    svg.split("<polyline")
        .skip(1)
        .filter_map(|t| {
            let start = t.find("points=\"")? + "points=\"".len();
            let points = &t[start..start + t[start..].find('"')?];
            points
                .split_whitespace()
                .map(|p| {
                    let (x, y) = p.split_once(',')?;
                    Some((x.parse().ok()?, y.parse().ok()?))
                })
                .collect()
        })
        .collect()
}

/// The `attr` coordinate of the first `<text>` anchored at `anchor` whose
/// content is the number `value` (a tick label, however many decimals it is
/// written with). x tick labels are centred on their tick, y ones end at it.
fn tick_coordinate(svg: &str, value: f64, attr: &str, anchor: &str) -> f64 {
    svg.split("<text")
        .skip(1)
        .find_map(|t| {
            let (head, body) = t.split_once('>')?;
            let label: f64 = body[..body.find("</text>")?].trim().parse().ok()?;
            let anchored = head.contains(&format!("text-anchor=\"{anchor}\""));
            if !anchored || (label - value).abs() > 1e-9 * value.abs().max(1.0) {
                return None;
            }
            let key = format!(" {attr}=\"");
            let start = head.find(&key)? + key.len();
            head[start..start + head[start..].find('"')?].parse().ok()
        })
        .unwrap_or_else(|| panic!("no tick label {value} with {attr}"))
}

/// The pixel height of the y-axis tick labelled `value`.
fn tick_y(svg: &str, value: f64) -> f64 {
    tick_coordinate(svg, value, "y", "end")
}

/// The pixel position of the x-axis tick labelled `value`.
fn tick_x(svg: &str, value: f64) -> f64 {
    tick_coordinate(svg, value, "x", "middle")
}

/// Whether some polyline of `lines` runs through exactly `expected`, each
/// point within 1.5 px (pixel rounding).
fn drawn(lines: &[Vec<(f64, f64)>], expected: &[(f64, f64)]) -> bool {
    lines.iter().any(|l| {
        l.len() == expected.len()
            && l.iter()
                .zip(expected)
                .all(|(a, b)| (a.0 - b.0).abs() <= 1.5 && (a.1 - b.1).abs() <= 1.5)
    })
}

/// Figure 1: dropout as a regularizer — train and val accuracy per dropout.
pub fn figure_1() -> Vec<Panel> {
    vec![
        panel(
            "Train accuracy",
            vec![
                series("0.60 dropout", curve(25, 0.2, 0.75, 0.0)),
                series("1.00 dropout", curve(25, 0.2, 0.98, 1.0)),
            ],
        ),
        panel(
            "Val accuracy",
            vec![
                series("0.60 dropout", curve(25, 0.18, 0.31, 2.0)),
                series("1.00 dropout", curve(25, 0.18, 0.28, 3.0)),
            ],
        ),
    ]
}

/// Figure 2: the final net — train and val accuracy against the dashed 0.55
/// target on top, its training loss below.
pub fn figure_2() -> Vec<Panel> {
    let mut acc = panel(
        "Final model accuracy",
        vec![
            series("train", curve(20, 0.35, 0.72, 0.5)),
            series("val", curve(20, 0.33, 0.57, 1.5)),
        ],
    );
    acc.hline = Some((0.55, "0.55 target".into()));
    let loss = Panel {
        y_label: "Loss".into(),
        ..panel(
            "Training loss",
            vec![series("loss", curve(20, 2.3, 0.9, 0.0))],
        )
    };
    vec![acc, loss]
}

#[test]
fn figure_1_dropout_regularizer() {
    let dir = temp_dir("fig1");
    let (png, svg) = plot_panels(&dir, "dropout_regularizer", &figure_1()).unwrap();
    assert_eq!(png, dir.join("dropout_regularizer.png"));
    assert_eq!(svg, dir.join("dropout_regularizer.svg"));
    let text = check_outputs(&png, &svg);
    assert_has_text(
        &text,
        &[
            "Train accuracy",
            "Val accuracy",
            "0.60 dropout",
            "1.00 dropout",
            "Epoch",
            "Accuracy",
        ],
    );
    // Two legend boxes, each naming both dropout values.
    assert_eq!(
        svg_texts(&text)
            .iter()
            .filter(|t| *t == "0.60 dropout")
            .count(),
        2
    );
    cleanup(&dir);
}

#[test]
fn figure_2_final_model_with_target_line() {
    let dir = temp_dir("fig2");
    let (png, svg) = plot_panels(&dir, "final_model", &figure_2()).unwrap();
    let text = check_outputs(&png, &svg);
    assert_has_text(
        &text,
        &[
            "Final model accuracy",
            "train",
            "val",
            "0.55 target",
            "Epoch",
            "Accuracy",
        ],
    );
    // The data: each curve is one polyline through every epoch's value, where
    // the outermost tick labels put it (to within pixel rounding).
    let panels = figure_2();
    let (y_04, y_07) = (tick_y(&text, 0.4), tick_y(&text, 0.7));
    let (x_0, x_15) = (tick_x(&text, 0.0), tick_x(&text, 15.0));
    let to_px = |epoch: usize, v: f64| {
        (
            x_0 + epoch as f64 * (x_15 - x_0) / 15.0,
            y_04 + (v - 0.4) * (y_07 - y_04) / 0.3,
        )
    };
    let lines = polylines(&text);
    for s in &panels[0].series {
        let expected: Vec<(f64, f64)> = s
            .values
            .iter()
            .enumerate()
            .map(|(e, &v)| to_px(e, v))
            .collect();
        assert!(
            drawn(&lines, &expected),
            "no polyline draws the {:?} curve at {expected:?}",
            s.label
        );
    }
    // The target: several short horizontal dashes at 0.55, across the plot.
    let target_y = to_px(0, 0.55).1;
    let dashes: Vec<&Vec<(f64, f64)>> = lines
        .iter()
        .filter(|l| l.len() == 2 && l.iter().all(|p| (p.1 - target_y).abs() <= 1.5))
        .collect();
    assert!(
        dashes.len() > 4,
        "{} dashes at y = {target_y}",
        dashes.len()
    );
    let span = dashes.iter().flat_map(|l| l.iter().map(|p| p.0));
    let (lo, hi) = span.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    assert!(
        lo <= x_0 && hi >= to_px(19, 0.0).0,
        "dashes span {lo}..{hi} only"
    );
    cleanup(&dir);
}

#[test]
fn fixed_y_range_and_out_of_range_values_are_clipped() {
    let dir = temp_dir("range");
    let mut p = panel(
        "Clipped",
        vec![series("wild", vec![0.1, 2.0, -1.0, 0.5, 0.6])],
    );
    p.y_range = Some((0.0, 1.0));
    p.hline = Some((1.5, "off-range target".into())); // outside: not drawn, no legend entry
    let (png, svg) = plot_panels(&dir, "clipped", &[p]).unwrap();
    let text = check_outputs(&png, &svg);
    assert!(text.contains("wild"));
    assert!(!svg_texts(&text).iter().any(|t| t == "off-range target"));
    // The line is cut where it leaves the axes, not bent along their edge:
    // three pieces, ending on the top and bottom edges at the crossings.
    let (x_0, x_4) = (tick_x(&text, 0.0), tick_x(&text, 4.0));
    let (y_0, y_1) = (tick_y(&text, 0.0), tick_y(&text, 1.0));
    let px = |x: f64, y: f64| (x_0 + x * (x_4 - x_0) / 4.0, y_0 + y * (y_1 - y_0));
    let lines = polylines(&text);
    for piece in [
        vec![px(0.0, 0.1), px(0.9 / 1.9, 1.0)],
        vec![px(4.0 / 3.0, 1.0), px(5.0 / 3.0, 0.0)],
        vec![px(8.0 / 3.0, 0.0), px(3.0, 0.5), px(4.0, 0.6)],
    ] {
        assert!(drawn(&lines, &piece), "no polyline {piece:?} in {lines:?}");
    }
    cleanup(&dir);
}

#[test]
fn empty_series_nans_and_empty_panels_do_not_panic() {
    let dir = temp_dir("edge");
    let nan = f64::NAN;
    let panels = vec![
        panel(
            "Gappy",
            vec![
                series("empty", vec![]),
                series(
                    "with NaNs",
                    vec![nan, 0.3, nan, 0.5, 0.6, f64::INFINITY, 0.7, nan],
                ),
                series("all NaN", vec![nan, nan]),
                series("", vec![0.2, 0.25]),
            ],
        ),
        panel("Nothing at all", vec![]),
        Panel {
            hline: Some((nan, "nan line".into())),
            ..panel("Constant", vec![series("flat", vec![0.4; 5])])
        },
        panel("Single point", vec![series("one", vec![0.9])]),
    ];
    let (png, svg) = plot_panels(&dir, "edge_cases", &panels).unwrap();
    let text = check_outputs(&png, &svg);
    assert_has_text(
        &text,
        &[
            "Gappy",
            "with NaNs",
            "empty",
            "all NaN",
            "Nothing at all",
            "Constant",
            "flat",
            "one",
        ],
    );
    // Series of different lengths each run over their own epochs: "with
    // NaNs" is one line over epochs 3-4 (its other values are lone markers
    // between gaps), the unlabelled two-value series one over epochs 0-1.
    let lines = polylines(&text);
    let (x_0, x_2) = (tick_x(&text, 0.0), tick_x(&text, 2.0));
    let at = |epoch: f64| x_0 + epoch * (x_2 - x_0) / 2.0;
    let xs = |l: &Vec<(f64, f64)>| l.iter().map(|p| p.0).collect::<Vec<f64>>();
    for epochs in [[3.0, 4.0], [0.0, 1.0]] {
        assert!(
            lines.iter().any(|l| xs(l).len() == 2
                && xs(l)
                    .iter()
                    .zip(epochs)
                    .all(|(x, e)| (x - at(e)).abs() <= 1.5)),
            "no line over epochs {epochs:?}"
        );
    }
    let texts = svg_texts(&text);
    assert!(
        !texts
            .iter()
            .any(|t| t.contains("NaN") && t != "with NaNs" && t != "all NaN" || t.contains("inf")),
        "{texts:?}"
    );
    cleanup(&dir);
}

#[test]
fn xy_log_plot_of_step_time_vs_batch_size() {
    let dir = temp_dir("xy");
    let sizes = [16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
    let plot = XyPlot {
        title: "Step time vs batch size".into(),
        x_label: "Batch size".into(),
        y_label: "Step time (ms)".into(),
        series: vec![
            XySeries {
                label: "forward+backward".into(),
                points: sizes.iter().map(|&b| (b, 0.05 * b + 0.3)).collect(),
            },
            XySeries {
                label: "with dropout".into(),
                points: sizes
                    .iter()
                    .map(|&b| (b, 0.06 * b + 0.4))
                    .chain([(0.0, 1.0), (f64::NAN, 2.0)])
                    .collect(),
            },
        ],
        log_x: true,
        log_y: true,
    };
    let (png, svg) = plot_xy(&dir, "step_time", &plot).unwrap();
    let text = check_outputs(&png, &svg);
    assert_has_text(
        &text,
        &[
            "Step time vs batch size",
            "Batch size",
            "Step time (ms)",
            "forward+backward",
            "with dropout",
        ],
    );
    // Ticks sit on the batch sizes themselves.
    assert_has_text(&text, &["16", "32", "64", "128", "256", "512"]);
    // Both curves, log-spaced between their ticks; the point at x = 0 and the
    // NaN one are left out of "with dropout".
    let (x_16, x_512) = (tick_x(&text, 16.0), tick_x(&text, 512.0));
    let (y_2, y_20) = (tick_y(&text, 2.0), tick_y(&text, 20.0));
    let px = |(x, y): (f64, f64)| {
        (
            x_16 + (x / 16.0).log2() / 5.0 * (x_512 - x_16),
            y_2 + (y / 2.0).log10() * (y_20 - y_2),
        )
    };
    let lines = polylines(&text);
    for s in &plot.series {
        let expected: Vec<(f64, f64)> = s.points[..sizes.len()].iter().map(|&p| px(p)).collect();
        assert!(
            drawn(&lines, &expected),
            "{:?} not at {expected:?}",
            s.label
        );
    }

    // Linear axes and an entirely empty plot work too.
    let linear = XyPlot {
        log_x: false,
        log_y: false,
        ..plot.clone()
    };
    check_outputs(
        &plot_xy(&dir, "step_time_linear", &linear).unwrap().0,
        &dir.join("step_time_linear.svg"),
    );
    let empty = XyPlot {
        series: vec![],
        ..plot
    };
    check_outputs(
        &plot_xy(&dir, "empty", &empty).unwrap().0,
        &dir.join("empty.svg"),
    );
    cleanup(&dir);
}

#[test]
fn unwritable_directory_is_an_error_naming_the_path() {
    let dir = temp_dir("unwritable");
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join("not_a_dir");
    fs::write(&file, b"x").unwrap();
    let target = file.join("figures");
    let err = plot_panels(&target, "fig", &figure_2()).unwrap_err();
    assert!(
        matches!(err, PlotError::CreateDir { ref path, .. } if *path == target),
        "{err:?}"
    );
    assert!(err.to_string().contains("not_a_dir"), "{err}");

    // A directory where the PNG should go makes the write itself fail.
    let out = dir.join("out");
    fs::create_dir_all(out.join("fig.png")).unwrap();
    let err = plot_panels(&out, "fig", &figure_2()).unwrap_err();
    assert!(
        matches!(err, PlotError::Write { ref path, .. } if path.ends_with("fig.png")),
        "{err:?}"
    );
    assert!(err.to_string().contains("fig.png"), "{err}");
    cleanup(&dir);
}

#[test]
fn bad_configuration_is_an_error() {
    let dir = temp_dir("bad");
    let err = plot_panels(&dir, "x", &[]).unwrap_err();
    assert!(matches!(err, PlotError::InvalidInput(_)), "{err:?}");
    let many = vec![figure_2().remove(0); gradtape_plot::MAX_PANELS + 1];
    let err = plot_panels(&dir, "x", &many).unwrap_err();
    assert!(err.to_string().contains("max 16"), "{err}");
    for range in [
        (1.0, 0.0),
        (0.5, 0.5),
        (f64::NAN, 1.0),
        (0.0, f64::INFINITY),
    ] {
        let p = Panel {
            y_range: Some(range),
            ..figure_2().remove(0)
        };
        let err = plot_panels(&dir, "x", &[p]).unwrap_err();
        assert!(
            matches!(err, PlotError::InvalidInput(_)),
            "{range:?}: {err:?}"
        );
    }
    for stem in ["", "a/b", "..", "."] {
        let err = plot_panels(&dir, stem, &figure_2()).unwrap_err();
        assert!(
            matches!(err, PlotError::InvalidInput(_)),
            "{stem:?}: {err:?}"
        );
    }
    cleanup(&dir);
}

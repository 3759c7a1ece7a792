//! The one-page report from made-up results (no data, no training): every
//! section is there in order, every file it links to or shows exists, and
//! it loads nothing and runs nothing.

use gradtape_notebook::dropout_forward::DropoutStats;
use gradtape_notebook::fc_gradcheck::GradcheckCase;
use gradtape_notebook::final_run::{self, FinalOptions, FinalResult};
use gradtape_notebook::html::{write_html, FIGURES, SECTIONS};
use gradtape_notebook::regularization;
use gradtape_notebook::report::{summary_rows, write_json, Results};
use gradtape_notebook::RunSummary;
use std::path::{Path, PathBuf};

fn run(label: &str, epochs: usize, iterations_per_epoch: usize, acc: f64) -> RunSummary {
    let curve = |start: f64| -> Vec<f64> {
        (0..=epochs)
            .map(|e| start + (acc - start) * e as f64 / epochs as f64)
            .collect()
    };
    RunSummary {
        label: label.to_string(),
        loss_history: (0..epochs * iterations_per_epoch)
            .map(|i| 2.3 / (1.0 + i as f64 / 10.0))
            .collect(),
        train_acc_history: curve(0.1),
        val_acc_history: curve(0.12),
        epoch_seconds: vec![1.5; epochs],
        best_val_acc: acc,
        seconds: 1.5 * epochs as f64,
    }
}

fn fake_results() -> Results {
    let forward = [0.3, 0.6, 0.75]
        .iter()
        .map(|&p| DropoutStats {
            p,
            input_mean: 10.0,
            train_mean: 10.01,
            test_mean: 10.0,
            train_zero_fraction: 1.0 - p,
            test_zero_fraction: 0.0,
        })
        .collect();
    let gradcheck = [(0.5, false, 2), (1.0, true, 10)]
        .iter()
        .map(|&(dropout, use_batchnorm, n)| GradcheckCase {
            dropout,
            use_batchnorm,
            n,
            initial_loss: 2.30,
            params: vec![("W1".into(), 1e-7, 0.3), ("b1".into(), 2e-9, 0.1)],
        })
        .collect();
    let options = FinalOptions {
        epochs: 3,
        ..FinalOptions::default()
    };
    Results {
        dropout_forward: forward,
        dropout_backward_rel_error: 5.4e-11,
        gradcheck,
        // A label with markup in it: it must come out as text.
        regularization: vec![
            run("0.60 dropout <b>&", 4, 5, 0.3),
            run("1.00 dropout", 4, 5, 0.29),
        ],
        final_run: FinalResult {
            options,
            run: run("final net", 3, 7, 0.57),
            val_acc: 0.568,
            test_acc: 0.588,
            resumed_from_epoch: None,
            epochs_run: 3,
        },
        section_seconds: vec![("load data".into(), 1.0), ("final net".into(), 4.5)],
        total_seconds: 12.0,
    }
}

/// The values of every `attr="..."` in `html`.
fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let key = format!(" {attr}=\"");
    html.match_indices(&key)
        .map(|(i, _)| {
            let rest = &html[i + key.len()..];
            &rest[..rest.find('"').expect("unterminated attribute")]
        })
        .collect()
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gradtape-html-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn the_page_has_every_section_in_order_and_every_file_it_references() {
    let dir = scratch();
    let results = fake_results();
    // What the notebook example writes beside the page.
    regularization::plot(&results.regularization, &dir).unwrap();
    final_run::plot(&results.final_run, &dir).unwrap();
    write_json(&dir, "results.json", &results).unwrap();
    let page = write_html(&dir, &results).unwrap();
    assert_eq!(page, dir.join("index.html"));
    let html = std::fs::read_to_string(&page).unwrap();

    // Every section, once, in order.
    let mut last = 0;
    for (id, title) in SECTIONS {
        let tag = format!("<section id=\"{id}\">\n<h2>{title}</h2>");
        assert_eq!(html.matches(&tag).count(), 1, "section {id} in:\n{html}");
        let at = html.find(&tag).unwrap();
        assert!(at > last, "section {id} out of order");
        last = at;
        assert!(
            html.contains(&format!("<a href=\"#{id}\">")),
            "no link to {id}"
        );
    }

    // Every image it shows and every file it links to exists beside it; the
    // images are the PNGs the plots wrote.
    let images = attribute_values(&html, "src");
    assert_eq!(images, FIGURES, "the figures, in section order");
    for src in &images {
        let bytes = std::fs::read(dir.join(src)).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{src} is not a PNG"
        );
    }
    for href in attribute_values(&html, "href") {
        if let Some(anchor) = href.strip_prefix('#') {
            assert!(
                html.contains(&format!("id=\"{anchor}\"")),
                "dangling #{anchor}"
            );
        } else {
            assert!(
                Path::new(&dir).join(href).is_file(),
                "{href} does not exist"
            );
        }
    }

    // Self-contained: no script, nothing from the network.
    let lower = html.to_lowercase();
    for banned in ["<script", "http://", "https://", "//cdn", "@import", "url("] {
        assert!(!lower.contains(banned), "{banned} in the page");
    }

    // The closing table, row by row, and the sections' figures.
    for [what, notebook, ours] in summary_rows(&results) {
        let what = what
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let row = format!("<td>{what}</td><td");
        assert!(html.contains(&row), "summary row {what:?} missing");
        assert!(
            html.contains(&notebook.replace('<', "&lt;")),
            "{notebook:?}"
        );
        assert!(html.contains(&ours.replace('<', "&lt;")), "{ours:?}");
    }
    for needle in [
        "dx relative error: 5.4e-11",
        "Validation set accuracy: 0.568",
        "Test set accuracy: 0.588",
        "dropout = 1, batchnorm (N = 10)",
        "<td>W1</td>",
    ] {
        assert!(html.contains(needle), "{needle:?} missing");
    }

    // Text is escaped, never markup.
    assert!(
        !html.contains("<b>"),
        "a label's markup leaked into the page"
    );
    assert!(html.contains("0.60 dropout &lt;b&gt;&amp;"));

    std::fs::remove_dir_all(&dir).unwrap();
}

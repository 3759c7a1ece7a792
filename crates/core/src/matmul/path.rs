//! Which code computes a product: picked once per process from the CPU's
//! features, or forced with `GRADTAPE_GEMM`, or per call with
//! [`try_gemm_with`](super::try_gemm_with).

use std::fmt;
use std::sync::OnceLock;

/// A code path for the matrix product. [`GemmPath::selected`] is the one
/// [`gemm`](super::gemm) runs.
///
/// | path | what runs | `auto` picks it on |
/// | --- | --- | --- |
/// | `MatrixmultiplyThreaded` | `matrixmultiply::dgemm` on blocks of C split over rayon threads (C turned around when it is wider than tall); with `MATMUL_NUM_THREADS` other than 1, one call that matrixmultiply threads (its threads nested in rayon's oversubscribe the cores) | CPUs with AVX-512F |
/// | `Avx2` | gradtape's own packed 6 x 8 AVX2 + FMA kernel, split over rayon threads | CPUs with AVX2 and FMA but no AVX-512F |
/// | `Fallback` | one `matrixmultiply::dgemm` call (its own threading, `MATMUL_NUM_THREADS`) | every other CPU |
///
/// `matrixmultiply` picks its own micro-kernel at run time (AVX-512F, AVX2 +
/// FMA, AVX, or portable Rust), so the two paths on it run on any CPU.
///
/// ```
/// use gradtape_core::GemmPath;
/// let path = GemmPath::selected();
/// assert!(path.missing_features().is_none()); // the selected path always runs here
/// assert_eq!("fallback".parse::<GemmPath>(), Ok(GemmPath::Fallback));
/// println!("{path} ({}), CPU: {}", path.kernel(), GemmPath::cpu_features());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GemmPath {
    /// `matrixmultiply::dgemm` over rayon blocks: the AVX-512 path.
    MatrixmultiplyThreaded,
    /// gradtape's own AVX2 + FMA kernel.
    Avx2,
    /// One `matrixmultiply::dgemm` call.
    Fallback,
}

impl GemmPath {
    /// Every path, in the order `auto` prefers them.
    ///
    /// ```
    /// use gradtape_core::GemmPath;
    /// // The paths this CPU can run (the two on matrixmultiply run anywhere).
    /// let here: Vec<_> = GemmPath::ALL.into_iter().filter(|p| p.is_supported()).collect();
    /// assert!(here.contains(&GemmPath::Fallback));
    /// ```
    pub const ALL: [GemmPath; 3] = [
        GemmPath::MatrixmultiplyThreaded,
        GemmPath::Avx2,
        GemmPath::Fallback,
    ];

    /// The name `GRADTAPE_GEMM` takes for this path.
    ///
    /// ```
    /// use gradtape_core::GemmPath;
    /// assert_eq!(GemmPath::Avx2.name(), "avx2");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            GemmPath::MatrixmultiplyThreaded => "matrixmultiply-threaded",
            GemmPath::Avx2 => "avx2",
            GemmPath::Fallback => "fallback",
        }
    }

    /// The CPU features this path needs and this CPU lacks, or `None` if it
    /// can run here.
    ///
    /// ```
    /// use gradtape_core::GemmPath;
    /// assert_eq!(GemmPath::Fallback.missing_features(), None);
    /// ```
    pub fn missing_features(self) -> Option<&'static str> {
        match self {
            GemmPath::Avx2 if !has_avx2_fma() => Some("avx2 and fma"),
            _ => None,
        }
    }

    /// Whether this CPU can run this path.
    ///
    /// ```
    /// use gradtape_core::GemmPath;
    /// assert!(GemmPath::MatrixmultiplyThreaded.is_supported());
    /// ```
    pub fn is_supported(self) -> bool {
        self.missing_features().is_none()
    }

    /// The path `GRADTAPE_GEMM=auto` (or unset) picks on this CPU.
    ///
    /// ```
    /// use gradtape_core::GemmPath;
    /// assert!(GemmPath::auto().is_supported());
    /// ```
    pub fn auto() -> GemmPath {
        if has_avx512f() {
            GemmPath::MatrixmultiplyThreaded
        } else if has_avx2_fma() {
            GemmPath::Avx2
        } else {
            GemmPath::Fallback
        }
    }

    /// The path [`gemm`](super::gemm) runs: `GRADTAPE_GEMM` if set (read
    /// once per process), else [`GemmPath::auto`].
    ///
    /// `GRADTAPE_GEMM` takes `auto`, `avx512`, `matrixmultiply-threaded`,
    /// `avx2` or `fallback`. `avx512` names the path `auto` picks on AVX-512
    /// CPUs, `matrixmultiply-threaded`; on a CPU without AVX-512F it still
    /// runs (matrixmultiply then uses its best kernel for the CPU) and a
    /// warning on stderr says so. `avx2` on a CPU without AVX2 and FMA, or
    /// an unknown value, warns on stderr and runs `fallback` (respectively
    /// `auto`): a forced path never runs instructions the CPU lacks.
    ///
    /// ```
    /// use gradtape_core::GemmPath;
    /// assert_eq!(GemmPath::selected(), GemmPath::selected()); // fixed per process
    /// ```
    pub fn selected() -> GemmPath {
        static SELECTED: OnceLock<GemmPath> = OnceLock::new();
        *SELECTED.get_or_init(|| {
            let var = std::env::var("GRADTAPE_GEMM").unwrap_or_default();
            let (path, warning) = from_env_value(&var);
            if let Some(w) = warning {
                eprintln!("gradtape: {w}");
            }
            path
        })
    }

    /// The micro-kernel this path runs on this CPU, for benchmark reports.
    /// For the paths on `matrixmultiply` it is the kernel matrixmultiply
    /// 0.3.11 selects by the same feature checks (built with Rust 1.89 or
    /// later and its default `avx512` feature).
    ///
    /// ```
    /// use gradtape_core::GemmPath;
    /// assert!(!GemmPath::Fallback.kernel().is_empty());
    /// ```
    pub fn kernel(self) -> &'static str {
        match self {
            GemmPath::Avx2 => "gradtape avx2+fma 6x8",
            GemmPath::MatrixmultiplyThreaded | GemmPath::Fallback => {
                if has_avx512f() {
                    "matrixmultiply avx512f 8x8"
                } else if has_avx2_fma() {
                    "matrixmultiply fma+avx2 8x4"
                } else if has_avx() {
                    "matrixmultiply avx 8x4"
                } else {
                    "matrixmultiply portable 4x4"
                }
            }
        }
    }

    /// The CPU's vector extensions that matter here, e.g. `"avx2 fma"`.
    ///
    /// ```
    /// use gradtape_core::GemmPath;
    /// let f = GemmPath::cpu_features();
    /// assert!(!f.is_empty());
    /// ```
    pub fn cpu_features() -> String {
        let mut out = Vec::new();
        if has_avx512f() {
            out.push("avx512f");
        }
        if has_avx2_fma() {
            out.push("avx2 fma");
        } else if has_avx() {
            out.push("avx");
        }
        if out.is_empty() {
            out.push(if cfg!(target_arch = "x86_64") {
                "sse2 only"
            } else {
                "not x86-64"
            });
        }
        out.join(" ")
    }
}

impl fmt::Display for GemmPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for GemmPath {
    type Err = String;

    /// A path's name, or `avx512` for `matrixmultiply-threaded`.
    fn from_str(s: &str) -> Result<GemmPath, String> {
        match s {
            "avx512" | "matrixmultiply-threaded" => Ok(GemmPath::MatrixmultiplyThreaded),
            "avx2" => Ok(GemmPath::Avx2),
            "fallback" => Ok(GemmPath::Fallback),
            _ => Err(format!(
                "unknown gemm path {s:?} (expected auto, avx512, matrixmultiply-threaded, avx2 or fallback)"
            )),
        }
    }
}

/// The path a `GRADTAPE_GEMM` value asks for on this CPU, and the warning to
/// print when it cannot be honoured as asked.
fn from_env_value(var: &str) -> (GemmPath, Option<String>) {
    let var = var.trim();
    if var.is_empty() || var == "auto" {
        return (GemmPath::auto(), None);
    }
    match var.parse::<GemmPath>() {
        Ok(path) => match path.missing_features() {
            Some(missing) => (
                GemmPath::Fallback,
                Some(format!(
                    "GRADTAPE_GEMM={var}: this CPU lacks {missing}; running the fallback path"
                )),
            ),
            None if var == "avx512" && !has_avx512f() => (
                path,
                Some(format!(
                    "GRADTAPE_GEMM=avx512: this CPU lacks avx512f; running the {path} path \
                     (auto's choice on AVX-512 CPUs) with {}",
                    path.kernel()
                )),
            ),
            None => (path, None),
        },
        Err(e) => (
            GemmPath::auto(),
            Some(format!("GRADTAPE_GEMM: {e}; running auto's path")),
        ),
    }
}

fn has_avx512f() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

pub(super) fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn has_avx() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values() {
        assert_eq!(from_env_value(""), (GemmPath::auto(), None));
        assert_eq!(from_env_value("auto"), (GemmPath::auto(), None));
        assert_eq!(from_env_value("fallback"), (GemmPath::Fallback, None));
        assert_eq!(
            from_env_value("matrixmultiply-threaded"),
            (GemmPath::MatrixmultiplyThreaded, None)
        );
        let (p, w) = from_env_value("avx512");
        assert_eq!(p, GemmPath::MatrixmultiplyThreaded);
        assert_eq!(w.is_some(), !has_avx512f());
        let (p, w) = from_env_value("avx2");
        if has_avx2_fma() {
            assert_eq!((p, w), (GemmPath::Avx2, None));
        } else {
            assert_eq!(p, GemmPath::Fallback);
            assert!(w.unwrap().contains("lacks avx2 and fma"));
        }
        let (p, w) = from_env_value("avx1024");
        assert_eq!(p, GemmPath::auto());
        assert!(w.unwrap().contains("unknown gemm path \"avx1024\""));
    }
}

//! `vsm`: the command line of the virtual server manager. Everything lives in the `vsm_cli`
//! library so that completions, the man page and tests see the same command tree.

fn main() -> std::process::ExitCode {
    vsm_cli::main()
}

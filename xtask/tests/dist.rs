//! Every subcommand's `--help` shows an example, and `cargo xtask dist` writes a man page for every
//! command and the bash, zsh and fish completions of both programs.

use xtask::{dist, example, programs, subcommands};

/// `words` resolved in a built copy of `program`, as the binary would parse them.
fn built(program: &clap::Command, words: &[String]) -> clap::Command {
    let mut cmd = program.clone();
    cmd.build();
    for word in &words[1..] {
        cmd = cmd.find_subcommand(word).unwrap_or_else(|| panic!("no subcommand {word}")).clone();
    }
    cmd
}

#[test]
fn every_command_and_subcommand_shows_an_example_of_itself_in_its_help() {
    for program in programs() {
        let mut commands = vec![(vec![program.get_name().to_string()], program.clone())];
        commands.extend(subcommands(&program));
        for (words, cmd) in commands {
            let invocation = words.join(" ");
            let example = example(&cmd).unwrap_or_else(|| panic!("`{invocation} --help` shows no example"));
            assert!(example.contains(&invocation), "the example of `{invocation}` does not run it: {example}");
            let help = built(&program, &words).render_help().to_string();
            assert!(help.contains(&format!("Example:\n  {example}")), "`{invocation} --help`:\n{help}");
        }
    }
}

#[test]
fn both_programs_have_subcommands_to_document() {
    let names: Vec<String> =
        programs().iter().flat_map(|p| subcommands(p).into_iter().map(|(w, _)| w.join(" "))).collect();
    for expected in ["hunterd migrate status", "hunterd auth partner-center", "hunter-tui sync partner-center"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
}

#[test]
fn dist_writes_a_man_page_per_command_with_its_example() {
    let dir = tempfile::tempdir().unwrap();
    let written = dist(dir.path()).unwrap();
    for program in programs() {
        let mut commands = vec![(vec![program.get_name().to_string()], program.clone())];
        commands.extend(subcommands(&program));
        for (words, cmd) in commands {
            let page = dir.path().join("man").join(format!("{}.1", words.join("-")));
            let text = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
            assert!(text.starts_with(".ie") || text.contains(".TH "), "{} is not a man page", page.display());
            let example = example(&cmd).unwrap();
            // roff escapes hyphens; compare the words of the example.
            let first_word = example.split_whitespace().next().unwrap();
            assert!(text.contains("Example:") && text.contains(&first_word.replace('-', "\\-")), "{text}");
        }
    }
    assert_eq!(written.man_pages.len(), programs().iter().map(|p| 1 + subcommands(p).len()).sum::<usize>());
}

#[test]
fn dist_writes_bash_zsh_and_fish_completions_knowing_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    dist(dir.path()).unwrap();
    for program in programs() {
        let name = program.get_name();
        for file in [format!("bash/{name}.bash"), format!("zsh/_{name}"), format!("fish/{name}.fish")] {
            let path = dir.path().join("completions").join(&file);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for (words, _) in subcommands(&program) {
                let last = words.last().unwrap();
                assert!(text.contains(last.as_str()), "{file} does not complete `{}`", words.join(" "));
            }
        }
    }
}

#[test]
fn dist_writes_the_sysusers_and_tmpfiles_files_under_their_installed_names() {
    let dir = tempfile::tempdir().unwrap();
    dist(dir.path()).unwrap();
    let sysusers = std::fs::read_to_string(dir.path().join("sysusers.d/hunter.conf")).unwrap();
    assert!(sysusers.lines().any(|l| l.starts_with("u hunter ")), "{sysusers}");
    let tmpfiles = std::fs::read_to_string(dir.path().join("tmpfiles.d/hunter.conf")).unwrap();
    assert!(tmpfiles.lines().any(|l| l.starts_with("d /var/lib/hunter ")), "{tmpfiles}");
}

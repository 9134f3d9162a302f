//! What the generated completion scripts of qmp-exec add: command names
//! from the server named by `-s`/`--socket` (or `QMP_SOCKET`), asked with
//! `qmp-exec --list` (query-commands: a few milliseconds) when the word
//! is the command (or the value of `--describe`). No server answering
//! within half a second completes nothing more than before.

use clap_complete::Shell;

/// The options of `cmd` that take a value (their words skip the next one).
fn value_options(cmd: &clap::Command) -> Vec<String> {
    let mut out = Vec::new();
    for a in cmd.get_arguments() {
        if a.is_positional() || !a.get_action().takes_values() {
            continue;
        }
        out.extend(a.get_short().map(|s| format!("-{s}")));
        out.extend(a.get_long().map(|l| format!("--{l}")));
    }
    out
}

/// `script` (clap_complete's, for `tool`) with live command names added.
pub fn add_commands(tool: &str, shell: Shell, cmd: &clap::Command, script: String) -> String {
    let options = value_options(cmd);
    let fname = tool.replace('-', "_");
    match shell {
        Shell::Bash => {
            let case = options.join("|");
            let live = BASH
                .replace("@FN@", &fname)
                .replace("@TOOL@", tool)
                .replace("@OPTS@", &case);
            // clap's function is _qmp__exec: ours wraps it.
            let clap_fn = format!("_{}", tool.replace('-', "__"));
            let script = script.replace(
                &format!("complete -F {clap_fn} "),
                &format!("complete -F _{fname}_live "),
            );
            format!("{script}{}", live.replace("@CLAP@", &clap_fn))
        }
        Shell::Zsh => {
            let live = ZSH
                .replace("@FN@", &fname)
                .replace("@TOOL@", tool)
                .replace("@OPTS@", &options.join("|"));
            // The command's positional completes from the server.
            let mut out = String::new();
            for line in script.lines() {
                if line.starts_with("'::command -- ") && line.ends_with(":_default' \\") {
                    let head = &line[..line.len() - ":_default' \\".len()];
                    out.push_str(&format!("{head}:_{fname}_live' \\\n"));
                } else {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            let tail = format!("if [ \"$funcstack[1]\" = \"_{tool}\" ]; then");
            out.replacen(&tail, &format!("{live}{tail}"), 1)
        }
        Shell::Fish => {
            let live = FISH
                .replace("@FN@", &fname)
                .replace("@TOOL@", tool)
                .replace("@OPTS@", &options.join(" "));
            format!("{script}{live}")
        }
        _ => script,
    }
}

const BASH: &str = r#"
# Command names from the server (-s/--socket, else QMP_SOCKET).
_@FN@_live() {
    local line="${COMP_LINE:0:COMP_POINT}" cur="" value="" seen=0 i w
    local -a words sock=()
    read -ra words <<< "$line"
    if [[ $line != *[[:space:]] && ${#words[@]} -gt 0 ]]; then
        cur="${words[${#words[@]}-1]}"
        unset 'words[${#words[@]}-1]'
    fi
    for (( i = 1; i < ${#words[@]}; i++ )); do
        w="${words[i]}"
        if [[ -n $value ]]; then
            [[ $value == -s || $value == --socket ]] && sock=(-s "$w")
            value=""
            continue
        fi
        case "$w" in
            @OPTS@) value="$w" ;;
            -*) ;;
            *) seen=1; break ;;
        esac
    done
    if [[ $cur != -* ]] && { [[ $value == --describe ]] || [[ -z $value && $seen == 0 ]]; }; then
        COMPREPLY=( $(compgen -W "$(@TOOL@ "${sock[@]}" --list --timeout 0.5 2>/dev/null)" -- "$cur") )
        (( ${#COMPREPLY[@]} )) && return 0
    fi
    @CLAP@ "$@"
}
"#;

const ZSH: &str = r#"# Command names from the server (-s/--socket, else QMP_SOCKET).
(( $+functions[_@FN@_live] )) ||
_@FN@_live() {
    local -a sock names
    local i
    for (( i = 2; i < CURRENT; i++ )); do
        case $words[i] in
            -s|--socket) sock=(-s "${words[i+1]}") ;;
        esac
    done
    names=(${(f)"$(@TOOL@ $sock --list --timeout 0.5 2>/dev/null)"})
    compadd -a names
}

"#;

const FISH: &str = r#"
# Command names from the server (-s/--socket, else QMP_SOCKET).
function __@FN@_live
    set -l value
    set -l sock
    set -l seen 0
    for t in (commandline -opc)[2..-1]
        if test -n "$value"
            if contains -- $value -s --socket
                set sock -s $t
            end
            set value
            continue
        end
        if contains -- $t @OPTS@
            set value $t
        else if not string match -q -- '-*' $t
            set seen 1
        end
    end
    if test "$value" = --describe; or begin; test -z "$value"; and test $seen = 0; end
        @TOOL@ $sock --list --timeout 0.5 2>/dev/null
    end
end
complete -c @TOOL@ -a '(__@FN@_live)'
"#;

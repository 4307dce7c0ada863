# bash completion for drplay: subcommands, each command's flags, action and
# kind names, and playbook files (*.yaml, *.yml). The commands and flags come
# from `drplay help` and the actions from `drplay actions`, so the completion
# knows what the installed binary knows.
# COMPREPLY=($(compgen ...)) is the idiom: candidates are single words.
# shellcheck disable=SC2207
_drplay_commands() {
    drplay help 2>/dev/null | awk '/^commands:/ { f = 1; next } f && /^  [a-z]/ { print $1 }'
}

_drplay_flags() { # COMMAND: the flags its usage names
    local cmd=$1
    [[ $cmd == plan ]] && cmd=run # plan takes the run options
    drplay help "$cmd" 2>/dev/null | sed -n '1,/^$/p' | grep -oE -- '--[a-z][a-z-]*=?' | sort -u
}

_drplay_actions() {
    drplay actions 2>/dev/null | awk 'NR > 1 && NF == 0 { body = 1 } NR > 1 && !body { print $1 }
        /^resource kinds:/ { for (i = 3; i <= NF; i++) print $i }'
}

_drplay_files() { # playbooks and directories
    local IFS=$'\n'
    compopt -o filenames 2>/dev/null
    COMPREPLY+=($(compgen -f -X '!*.yaml' -- "$1") $(compgen -f -X '!*.yml' -- "$1") $(compgen -d -- "$1"))
}

_drplay() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd=${COMP_WORDS[1]:-}
    COMPREPLY=()
    if ((COMP_CWORD == 1)); then
        COMPREPLY=($(compgen -W "$(_drplay_commands) --version --help" -- "$cur"))
        return
    fi
    case $prev in
    --mode) COMPREPLY=($(compgen -W "validation disaster" -- "$cur")); return ;;
    --journal-dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --authorize-file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
    esac
    case $cur in
    --mode=*) COMPREPLY=($(compgen -P --mode= -W "validation disaster" -- "${cur#--mode=}")); return ;;
    --format=*)
        local forms
        forms=$(drplay help "$cmd" 2>/dev/null | grep -oE -- '--format=[a-z|]+' | head -1)
        forms=${forms#--format=}
        COMPREPLY=($(compgen -P --format= -W "${forms//|/ }" -- "${cur#--format=}"))
        return ;;
    -*)
        COMPREPLY=($(compgen -W "$(_drplay_flags "$cmd") --help" -- "$cur"))
        [[ ${COMPREPLY[0]:-} == *= ]] && compopt -o nospace 2>/dev/null
        return ;;
    esac
    case $cmd in
    actions) ((COMP_CWORD == 2)) && COMPREPLY=($(compgen -W "$(_drplay_actions | sort -u)" -- "$cur")) ;;
    help) ((COMP_CWORD == 2)) && COMPREPLY=($(compgen -W "$(_drplay_commands)" -- "$cur")) ;;
    manpage) ((COMP_CWORD == 2)) && COMPREPLY=($(compgen -W "1 5" -- "$cur")) ;;
    maintenance)
        if ((COMP_CWORD == 2)); then
            COMPREPLY=($(compgen -W "on off status" -- "$cur"))
        else
            _drplay_files "$cur"
        fi ;;
    schema | version | status) ;;
    *) _drplay_files "$cur" ;;
    esac
}
complete -F _drplay drplay

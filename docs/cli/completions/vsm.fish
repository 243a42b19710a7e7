# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_vsm_global_optspecs
    string join \n o/output= url= ca-cert= color= h/help V/version
end

function __fish_vsm_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_vsm_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_vsm_using_subcommand
    set -l cmd (__fish_vsm_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c vsm -n "__fish_vsm_needs_command" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_needs_command" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_needs_command" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_needs_command" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_needs_command" -s V -l version -d 'Print version'
complete -c vsm -n "__fish_vsm_needs_command" -f -a "manager" -d 'Run and administer the manager on this host (init, start, stop, status, backup, ...)'
complete -c vsm -n "__fish_vsm_needs_command" -f -a "login" -d 'Log in to the manager and save the session for the following commands'
complete -c vsm -n "__fish_vsm_needs_command" -f -a "logout" -d 'End the saved session with the manager and forget it'
complete -c vsm -n "__fish_vsm_needs_command" -f -a "whoami" -d 'Show the account and role of the current session'
complete -c vsm -n "__fish_vsm_needs_command" -f -a "account" -d 'Manage accounts (administrator): add, delete, list, change passwords'
complete -c vsm -n "__fish_vsm_needs_command" -f -a "host" -d 'Manage the host pool (administrator): the hypervisor hosts that servers are placed on'
complete -c vsm -n "__fish_vsm_needs_command" -f -a "template" -d 'Manage server templates: base images that servers are cloned from'
complete -c vsm -n "__fish_vsm_needs_command" -f -a "unit" -d 'Manage units: named sets of server groups with one owner and imported definitions'
complete -c vsm -n "__fish_vsm_needs_command" -f -a "group" -d 'Start, stop, attach to and detach from one group of a unit'
complete -c vsm -n "__fish_vsm_needs_command" -f -a "server" -d 'Look at and repair single servers: logs, recovery, failure marks'
complete -c vsm -n "__fish_vsm_needs_command" -f -a "op" -d 'Follow, inspect and cancel operations (the journaled runs of changes)'
complete -c vsm -n "__fish_vsm_needs_command" -f -a "jp1" -d 'Generate JP1 integration files (JP1/AJS jobnets, JP1/IM log-file trap, JP1/PFM records)'
complete -c vsm -n "__fish_vsm_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell) on standard output'
complete -c vsm -n "__fish_vsm_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and not __fish_seen_subcommand_from init start stop status backup restore migrate-store uninstall diagnose log-config help" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and not __fish_seen_subcommand_from init start stop status backup restore migrate-store uninstall diagnose log-config help" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and not __fish_seen_subcommand_from init start stop status backup restore migrate-store uninstall diagnose log-config help" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and not __fish_seen_subcommand_from init start stop status backup restore migrate-store uninstall diagnose log-config help" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and not __fish_seen_subcommand_from init start stop status backup restore migrate-store uninstall diagnose log-config help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and not __fish_seen_subcommand_from init start stop status backup restore migrate-store uninstall diagnose log-config help" -f -a "init" -d 'Create a state directory: configuration file, state store and the first administrator'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and not __fish_seen_subcommand_from init start stop status backup restore migrate-store uninstall diagnose log-config help" -f -a "start" -d 'Run the manager: serve the API on the listen address until stopped'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and not __fish_seen_subcommand_from init start stop status backup restore migrate-store uninstall diagnose log-config help" -f -a "stop" -d 'Stop the manager of a state directory gracefully and wait until it has exited'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and not __fish_seen_subcommand_from init start stop status backup restore migrate-store uninstall diagnose log-config help" -f -a "status" -d 'Show whether the manager of a state directory runs, its address and its health'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and not __fish_seen_subcommand_from init start stop status backup restore migrate-store uninstall diagnose log-config help" -f -a "backup" -d 'Write an online, consistent backup of the manager (administrator) to a file'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and not __fish_seen_subcommand_from init start stop status backup restore migrate-store uninstall diagnose log-config help" -f -a "restore" -d 'Restore a state directory from a backup file; the manager must be stopped'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and not __fish_seen_subcommand_from init start stop status backup restore migrate-store uninstall diagnose log-config help" -f -a "migrate-store" -d 'Move a stopped manager\'s SQLite state into an empty PostgreSQL database'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and not __fish_seen_subcommand_from init start stop status backup restore migrate-store uninstall diagnose log-config help" -f -a "uninstall" -d 'Remove the manager\'s operating environment: its state directory (seed A4)'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and not __fish_seen_subcommand_from init start stop status backup restore migrate-store uninstall diagnose log-config help" -f -a "diagnose" -d 'Write a diagnostics bundle (logs, config, state summary, recent operations) to a file'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and not __fish_seen_subcommand_from init start stop status backup restore migrate-store uninstall diagnose log-config help" -f -a "log-config" -d 'Show the manager\'s log settings, or change them (applied without restart)'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and not __fish_seen_subcommand_from init start stop status backup restore migrate-store uninstall diagnose log-config help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from init" -l dir -d 'The state directory to create (must not exist, or be empty)' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from init" -l admin -d 'The name of the first administrator account' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from init" -l listen -d 'The address the manager listens on, written to the configuration' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from init" -l store -d 'The state store: `sqlite` (default) or postgres://USER@HOST:PORT/DATABASE, an empty database (no password in the URL; TLS with ?sslmode=verify-full[&sslrootcert=/ca.pem] or ?sslmode=require)' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from init" -l store-password-file -d 'An owner-only file (chmod 600) holding the PostgreSQL password; written to the configuration as `store_password_file`. Without it, VSM_STORE_PASSWORD is used' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from init" -l definitions-dir -d 'The definition snapshot store (default: DIR/definitions); with PostgreSQL, a directory every manager of the database reaches' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from init" -l password-file -d 'Read the password from the first line of FILE' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from init" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from init" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from init" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from init" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from init" -l password-stdin -d 'Read the password from standard input (its first line)'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from start" -l dir -d 'The manager\'s state directory (created by `vsm manager init`)' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from start" -l listen -d 'Listen on this address instead of the configured one (port 0 picks a free port)' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from start" -l timeout -d 'With --detach: how long to wait for the API to answer' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from start" -l libvirt-uri -d 'Also drive libvirt at this URI (e.g. qemu:///system; needs a vsm built with the `libvirt` feature)' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from start" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from start" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from start" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from start" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from start" -l detach -d 'Start in the background and return once the API answers'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from stop" -l dir -d 'The manager\'s state directory' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from stop" -l timeout -d 'How long to wait for the manager to exit (exit code 75 when exceeded; it keeps stopping)' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from stop" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from stop" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from stop" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from stop" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from status" -l dir -d 'The manager\'s state directory' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from status" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from status" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from status" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from status" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from backup" -l out -d 'The file to write (replaced if it exists)' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from backup" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from backup" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from backup" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from backup" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from backup" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from restore" -l dir -d 'The state directory to restore into (the manager must be stopped)' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from restore" -l from -d 'The backup file written by `vsm manager backup`' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from restore" -l store -d 'Restore into this store instead of the archive\'s: `sqlite` or a PostgreSQL URL of an empty database' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from restore" -l store-password-file -d 'An owner-only file (chmod 600) holding the PostgreSQL password; written to the configuration as `store_password_file`. Without it, VSM_STORE_PASSWORD is used' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from restore" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from restore" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from restore" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from restore" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from restore" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from migrate-store" -l dir -d 'The stopped manager\'s state directory' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from migrate-store" -l to -d 'The empty PostgreSQL database: postgres://USER@HOST:PORT/DATABASE (no password in it)' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from migrate-store" -l store-password-file -d 'An owner-only file (chmod 600) holding the PostgreSQL password; written to the configuration as `store_password_file`. Without it, VSM_STORE_PASSWORD is used' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from migrate-store" -l definitions-dir -d 'Also copy the definition snapshots into this shared directory and configure it' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from migrate-store" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from migrate-store" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from migrate-store" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from migrate-store" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from migrate-store" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from uninstall" -l dir -d 'The state directory to remove (the manager must be stopped)' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from uninstall" -l backup -d 'Where the final backup goes (default: `DIR.final-backup.tar` beside the directory)' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from uninstall" -l libvirt-uri -d 'libvirt: the URI the manager ran with, to reach its VMs when destroying them' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from uninstall" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from uninstall" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from uninstall" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from uninstall" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from uninstall" -l destroy-servers -d 'Delete every unit and its servers first, instead of refusing while units have servers'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from uninstall" -l no-backup -d 'Write no final backup'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from uninstall" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from diagnose" -l out -d 'The file to write (replaced if it exists)' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from diagnose" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from diagnose" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from diagnose" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from diagnose" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from diagnose" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from log-config" -l log-dir -d 'The directory log files are written to' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from log-config" -l files -d 'How many log files are kept' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from log-config" -l size-mb -d 'The size of one log file in MiB before it is rotated' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from log-config" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from log-config" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from log-config" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from log-config" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from log-config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from help" -f -a "init" -d 'Create a state directory: configuration file, state store and the first administrator'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from help" -f -a "start" -d 'Run the manager: serve the API on the listen address until stopped'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Stop the manager of a state directory gracefully and wait until it has exited'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from help" -f -a "status" -d 'Show whether the manager of a state directory runs, its address and its health'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from help" -f -a "backup" -d 'Write an online, consistent backup of the manager (administrator) to a file'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from help" -f -a "restore" -d 'Restore a state directory from a backup file; the manager must be stopped'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from help" -f -a "migrate-store" -d 'Move a stopped manager\'s SQLite state into an empty PostgreSQL database'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from help" -f -a "uninstall" -d 'Remove the manager\'s operating environment: its state directory (seed A4)'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from help" -f -a "diagnose" -d 'Write a diagnostics bundle (logs, config, state summary, recent operations) to a file'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from help" -f -a "log-config" -d 'Show the manager\'s log settings, or change them (applied without restart)'
complete -c vsm -n "__fish_vsm_using_subcommand manager; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand login" -l user -d 'The account to log in as' -r
complete -c vsm -n "__fish_vsm_using_subcommand login" -l password-file -d 'Read the password from the first line of FILE' -r
complete -c vsm -n "__fish_vsm_using_subcommand login" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand login" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand login" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand login" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand login" -l password-stdin -d 'Read the password from standard input (its first line)'
complete -c vsm -n "__fish_vsm_using_subcommand login" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand logout" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand logout" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand logout" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand logout" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand logout" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand whoami" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand whoami" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand whoami" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand whoami" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand whoami" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand account; and not __fish_seen_subcommand_from add delete list passwd help" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand account; and not __fish_seen_subcommand_from add delete list passwd help" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand account; and not __fish_seen_subcommand_from add delete list passwd help" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand account; and not __fish_seen_subcommand_from add delete list passwd help" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand account; and not __fish_seen_subcommand_from add delete list passwd help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand account; and not __fish_seen_subcommand_from add delete list passwd help" -f -a "add" -d 'Add an account (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand account; and not __fish_seen_subcommand_from add delete list passwd help" -f -a "delete" -d 'Delete an account (administrator); refused while it owns units (move them with `vsm unit chown`)'
complete -c vsm -n "__fish_vsm_using_subcommand account; and not __fish_seen_subcommand_from add delete list passwd help" -f -a "list" -d 'List the accounts (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand account; and not __fish_seen_subcommand_from add delete list passwd help" -f -a "passwd" -d 'Change an account\'s password (administrator, or the account itself)'
complete -c vsm -n "__fish_vsm_using_subcommand account; and not __fish_seen_subcommand_from add delete list passwd help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from add" -l role -d 'The account\'s role' -r -f -a "builder\t'A system builder: owns units and works in them'
admin\t'An administrator: accounts, ownership, backups, logs; may act on any unit'"
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from add" -l password-file -d 'Read the password from the first line of FILE' -r
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from add" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from add" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from add" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from add" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from add" -l password-stdin -d 'Read the password from standard input (its first line)'
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from delete" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from delete" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from delete" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from delete" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from list" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from list" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from list" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from passwd" -l password-file -d 'Read the password from the first line of FILE' -r
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from passwd" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from passwd" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from passwd" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from passwd" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from passwd" -l password-stdin -d 'Read the password from standard input (its first line)'
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from passwd" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add an account (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete an account (administrator); refused while it owns units (move them with `vsm unit chown`)'
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the accounts (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from help" -f -a "passwd" -d 'Change an account\'s password (administrator, or the account itself)'
complete -c vsm -n "__fish_vsm_using_subcommand account; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand host; and not __fish_seen_subcommand_from add list show remove undrain drain confirm-down rebalance help" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and not __fish_seen_subcommand_from add list show remove undrain drain confirm-down rebalance help" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and not __fish_seen_subcommand_from add list show remove undrain drain confirm-down rebalance help" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and not __fish_seen_subcommand_from add list show remove undrain drain confirm-down rebalance help" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and not __fish_seen_subcommand_from add list show remove undrain drain confirm-down rebalance help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand host; and not __fish_seen_subcommand_from add list show remove undrain drain confirm-down rebalance help" -f -a "add" -d 'Add a hypervisor host to the pool (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand host; and not __fish_seen_subcommand_from add list show remove undrain drain confirm-down rebalance help" -f -a "list" -d 'List the hosts of the pool with their state, connection, use and labels (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand host; and not __fish_seen_subcommand_from add list show remove undrain drain confirm-down rebalance help" -f -a "show" -d 'Show a host: how it is reached, capacity, ratios, state, labels and the servers on it'
complete -c vsm -n "__fish_vsm_using_subcommand host; and not __fish_seen_subcommand_from add list show remove undrain drain confirm-down rebalance help" -f -a "remove" -d 'Remove a host from the pool (administrator); refused for a built-in host and while servers are placed on it'
complete -c vsm -n "__fish_vsm_using_subcommand host; and not __fish_seen_subcommand_from add list show remove undrain drain confirm-down rebalance help" -f -a "undrain" -d 'Put a draining host, or one in maintenance, back into service: it takes new servers again'
complete -c vsm -n "__fish_vsm_using_subcommand host; and not __fish_seen_subcommand_from add list show remove undrain drain confirm-down rebalance help" -f -a "drain" -d 'Move every server off a host for maintenance (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand host; and not __fish_seen_subcommand_from add list show remove undrain drain confirm-down rebalance help" -f -a "confirm-down" -d 'Confirm that a down host is lost (powered off or fenced) so that its servers restart on the other hosts (administrator; hosts with `fencing: manual`). Refused for a host that is not down: a host that still runs its servers must never be confirmed lost'
complete -c vsm -n "__fish_vsm_using_subcommand host; and not __fish_seen_subcommand_from add list show remove undrain drain confirm-down rebalance help" -f -a "rebalance" -d 'Restore the spread of `spread` groups over their hosts, e.g. after a host returned or was added (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand host; and not __fish_seen_subcommand_from add list show remove undrain drain confirm-down rebalance help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from add" -l driver -d 'The hypervisor driver that runs the host\'s servers' -r -f -a "local\t'The embedded driver: servers are sandboxed process trees on this host'
libvirt\t'libvirt: real virtual machines on libvirt hosts'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from add" -l uri -d 'libvirt: the connection URI (e.g. qemu:///system, qemu+ssh://root@kvm-01/system)' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from add" -l dir -d 'local: the driver\'s state directory for this host (relative paths are made absolute)' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from add" -l label -d 'A label that units select hosts by (`placement.hosts` in a unit file); repeat it for more' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from add" -l cpu-ratio -d 'vCPUs handed out per physical CPU (default 16.0)' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from add" -l ram-ratio -d 'MiB of memory handed out per MiB of unreserved memory (default 1.5)' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from add" -l reserved-memory-mb -d 'Memory kept for the host itself, in MiB (default 0)' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from add" -l fencing -d 'What the host\'s loss needs before its servers are restarted elsewhere (default manual)' -r -f -a "manual\t'An administrator confirms the loss first: never two copies of a server running'
none\t'Restart at once: for hosts whose loss is certain (a copy cannot still run)'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from add" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from add" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from add" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from add" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from list" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from list" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from list" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from show" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from show" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from show" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from remove" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from remove" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from remove" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from remove" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from undrain" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from undrain" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from undrain" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from undrain" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from undrain" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from drain" -l timeout -d 'How long the drain may take, in seconds (default 600); what is not moved by then stays' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from drain" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from drain" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from drain" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from drain" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from drain" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from confirm-down" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from confirm-down" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from confirm-down" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from confirm-down" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from confirm-down" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from rebalance" -l timeout -d 'How long applying the moves may take, in seconds (default 600)' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from rebalance" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from rebalance" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from rebalance" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from rebalance" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from rebalance" -l dry-run -d 'Only list the moves; change nothing'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from rebalance" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a hypervisor host to the pool (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the hosts of the pool with their state, connection, use and labels (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show a host: how it is reached, capacity, ratios, state, labels and the servers on it'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove a host from the pool (administrator); refused for a built-in host and while servers are placed on it'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from help" -f -a "undrain" -d 'Put a draining host, or one in maintenance, back into service: it takes new servers again'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from help" -f -a "drain" -d 'Move every server off a host for maintenance (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from help" -f -a "confirm-down" -d 'Confirm that a down host is lost (powered off or fenced) so that its servers restart on the other hosts (administrator; hosts with `fencing: manual`). Refused for a host that is not down: a host that still runs its servers must never be confirmed lost'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from help" -f -a "rebalance" -d 'Restore the spread of `spread` groups over their hosts, e.g. after a host returned or was added (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand host; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand template; and not __fish_seen_subcommand_from register update list show delete help" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand template; and not __fish_seen_subcommand_from register update list show delete help" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand template; and not __fish_seen_subcommand_from register update list show delete help" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand template; and not __fish_seen_subcommand_from register update list show delete help" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand template; and not __fish_seen_subcommand_from register update list show delete help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand template; and not __fish_seen_subcommand_from register update list show delete help" -f -a "register" -d 'Register a template (generation 1) from a source the driver understands'
complete -c vsm -n "__fish_vsm_using_subcommand template; and not __fish_seen_subcommand_from register update list show delete help" -f -a "update" -d 'Add a new generation of a template (e.g. a patched image); `vsm unit upgrade` rolls it out'
complete -c vsm -n "__fish_vsm_using_subcommand template; and not __fish_seen_subcommand_from register update list show delete help" -f -a "list" -d 'List the templates'
complete -c vsm -n "__fish_vsm_using_subcommand template; and not __fish_seen_subcommand_from register update list show delete help" -f -a "show" -d 'Show a template and its generations'
complete -c vsm -n "__fish_vsm_using_subcommand template; and not __fish_seen_subcommand_from register update list show delete help" -f -a "delete" -d 'Delete a template; refused while a unit\'s group uses it'
complete -c vsm -n "__fish_vsm_using_subcommand template; and not __fish_seen_subcommand_from register update list show delete help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from register" -l driver -d 'The hypervisor driver the template belongs to' -r -f -a "local\t'The embedded driver: servers are sandboxed process trees on this host'
libvirt\t'libvirt: real virtual machines on libvirt hosts'"
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from register" -l source -d 'local: a template directory on the management host; libvirt: a domain or volume' -r
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from register" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from register" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from register" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from register" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from register" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from update" -l source -d 'The source of the new generation (same kind as at registration)' -r
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from update" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from update" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from update" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from update" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from update" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from list" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from list" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from list" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from show" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from show" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from show" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from delete" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from delete" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from delete" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from delete" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from help" -f -a "register" -d 'Register a template (generation 1) from a source the driver understands'
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from help" -f -a "update" -d 'Add a new generation of a template (e.g. a patched image); `vsm unit upgrade` rolls it out'
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the templates'
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show a template and its generations'
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete a template; refused while a unit\'s group uses it'
complete -c vsm -n "__fish_vsm_using_subcommand template; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -f -a "create" -d 'Create a unit from a unit file (groups: template, count, min, max, start order); you own it'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -f -a "list" -d 'List your units (administrators: `--all` lists every owner\'s units)'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -f -a "show" -d 'Show a unit: definition version and status, groups, servers, states, addresses, last operations'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -f -a "chown" -d 'Give a unit to another account (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -f -a "import" -d 'Import a definition directory into a unit as a new immutable version (not yet applied)'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -f -a "export" -d 'Write a definition version of a unit back out as a directory'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -f -a "diff" -d 'Show what importing a directory would change, per group and file (changes nothing)'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -f -a "apply" -d 'Apply a definition version to every server of the unit (batch apply / rolling roll-out)'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -f -a "rollback" -d 'Re-apply the previous definition version'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -f -a "start" -d 'Start the unit: all groups in start order, each after the previous is healthy'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -f -a "stop" -d 'Stop the unit: all groups in reverse start order'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -f -a "scale" -d 'Scale a provisioned group out or in (within its min/max)'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -f -a "upgrade" -d 'Re-provision the unit\'s servers onto their template\'s newest generation'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -f -a "delete" -d 'Delete a unit: stop and destroy its servers (an audit record is kept)'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -f -a "versions" -d 'List the imported definition versions of a unit'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and not __fish_seen_subcommand_from create list show chown import export diff apply rollback start stop scale upgrade delete versions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from create" -s f -l file -d 'The unit file (YAML; format documented in docs/unit-format.md)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from create" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from create" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from create" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from create" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from list" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from list" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from list" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from list" -l all -d 'Every owner\'s units (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from show" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from show" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from show" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from show" -l watch -d 'Keep showing the unit, redrawn (or, with `--output json`, printed again as one line of JSON) on every change, until Ctrl-C'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from chown" -l to -d 'The new owner' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from chown" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from chown" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from chown" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from chown" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from chown" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from import" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from import" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from import" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from import" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from export" -l version -d 'The version to export (default: the current one)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from export" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from export" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from export" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from export" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from diff" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from diff" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from diff" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from diff" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from apply" -l version -d 'The version to apply (default: the newest imported)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from apply" -l batch -d 'Roll out in batches of N servers or P% of the unit (default: all at once when stopped, one by one on a running unit)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from apply" -l max-unhealthy -d 'Abort when more than P% of the servers updated so far fail their health checks (default: the first failing batch aborts)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from apply" -l pause -d 'Pause between batches' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from apply" -l timeout -d 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from apply" -l wait -d 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from apply" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from apply" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from apply" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from apply" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from apply" -l no-rollback -d 'On abort, leave the touched servers on the new version instead of rolling them back'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from apply" -l no-wait -d 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from apply" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from rollback" -l timeout -d 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from rollback" -l wait -d 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from rollback" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from rollback" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from rollback" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from rollback" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from rollback" -l no-wait -d 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from rollback" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from start" -l timeout -d 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from start" -l wait -d 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from start" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from start" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from start" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from start" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from start" -l no-wait -d 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from stop" -l timeout -d 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from stop" -l wait -d 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from stop" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from stop" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from stop" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from stop" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from stop" -l no-wait -d 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from scale" -l count -d 'The new number of servers (within the group\'s min and max)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from scale" -l remove -d 'Scale in by removing these servers instead of choosing by the group\'s policy' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from scale" -l grace -d 'Drain time before a scaled-in server is stopped (default: the group\'s `grace`)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from scale" -l timeout -d 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from scale" -l wait -d 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from scale" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from scale" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from scale" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from scale" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from scale" -l no-wait -d 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from scale" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from upgrade" -l batch -d 'Re-provision in batches of N servers or P% of the unit' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from upgrade" -l surge -d 'Create N new servers first, then retire old ones, so capacity never drops' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from upgrade" -l timeout -d 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from upgrade" -l wait -d 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from upgrade" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from upgrade" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from upgrade" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from upgrade" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from upgrade" -l no-wait -d 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from upgrade" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from delete" -l timeout -d 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from delete" -l wait -d 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from delete" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from delete" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from delete" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from delete" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from delete" -l force -d 'Delete even when servers are running or marked failed'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from delete" -l no-wait -d 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from versions" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from versions" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from versions" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from versions" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from versions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a unit from a unit file (groups: template, count, min, max, start order); you own it'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from help" -f -a "list" -d 'List your units (administrators: `--all` lists every owner\'s units)'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show a unit: definition version and status, groups, servers, states, addresses, last operations'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from help" -f -a "chown" -d 'Give a unit to another account (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from help" -f -a "import" -d 'Import a definition directory into a unit as a new immutable version (not yet applied)'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from help" -f -a "export" -d 'Write a definition version of a unit back out as a directory'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from help" -f -a "diff" -d 'Show what importing a directory would change, per group and file (changes nothing)'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from help" -f -a "apply" -d 'Apply a definition version to every server of the unit (batch apply / rolling roll-out)'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from help" -f -a "rollback" -d 'Re-apply the previous definition version'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from help" -f -a "start" -d 'Start the unit: all groups in start order, each after the previous is healthy'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Stop the unit: all groups in reverse start order'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from help" -f -a "scale" -d 'Scale a provisioned group out or in (within its min/max)'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from help" -f -a "upgrade" -d 'Re-provision the unit\'s servers onto their template\'s newest generation'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete a unit: stop and destroy its servers (an audit record is kept)'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from help" -f -a "versions" -d 'List the imported definition versions of a unit'
complete -c vsm -n "__fish_vsm_using_subcommand unit; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand group; and not __fish_seen_subcommand_from start stop attach detach help" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand group; and not __fish_seen_subcommand_from start stop attach detach help" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and not __fish_seen_subcommand_from start stop attach detach help" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and not __fish_seen_subcommand_from start stop attach detach help" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand group; and not __fish_seen_subcommand_from start stop attach detach help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand group; and not __fish_seen_subcommand_from start stop attach detach help" -f -a "start" -d 'Start one group of a unit'
complete -c vsm -n "__fish_vsm_using_subcommand group; and not __fish_seen_subcommand_from start stop attach detach help" -f -a "stop" -d 'Stop one group of a unit'
complete -c vsm -n "__fish_vsm_using_subcommand group; and not __fish_seen_subcommand_from start stop attach detach help" -f -a "attach" -d 'Registered groups: add an existing machine by address (checked reachable over SSH)'
complete -c vsm -n "__fish_vsm_using_subcommand group; and not __fish_seen_subcommand_from start stop attach detach help" -f -a "detach" -d 'Registered groups: remove a server from the group; the machine itself is untouched'
complete -c vsm -n "__fish_vsm_using_subcommand group; and not __fish_seen_subcommand_from start stop attach detach help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from start" -l timeout -d 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from start" -l wait -d 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from start" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from start" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from start" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from start" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from start" -l no-wait -d 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from stop" -l timeout -d 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from stop" -l wait -d 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from stop" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from stop" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from stop" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from stop" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from stop" -l no-wait -d 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from attach" -l address -d 'The machine\'s management address (host or IP, optionally :port for SSH)' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from attach" -l name -d 'The server\'s name in the unit (default: derived from the group name)' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from attach" -l timeout -d 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from attach" -l wait -d 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from attach" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from attach" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from attach" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from attach" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from attach" -l no-wait -d 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from attach" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from detach" -l timeout -d 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from detach" -l wait -d 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from detach" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from detach" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from detach" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from detach" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from detach" -l no-wait -d 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from detach" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from help" -f -a "start" -d 'Start one group of a unit'
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Stop one group of a unit'
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from help" -f -a "attach" -d 'Registered groups: add an existing machine by address (checked reachable over SSH)'
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from help" -f -a "detach" -d 'Registered groups: remove a server from the group; the machine itself is untouched'
complete -c vsm -n "__fish_vsm_using_subcommand group; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand server; and not __fish_seen_subcommand_from logs recover mark unmark help" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand server; and not __fish_seen_subcommand_from logs recover mark unmark help" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand server; and not __fish_seen_subcommand_from logs recover mark unmark help" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand server; and not __fish_seen_subcommand_from logs recover mark unmark help" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand server; and not __fish_seen_subcommand_from logs recover mark unmark help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand server; and not __fish_seen_subcommand_from logs recover mark unmark help" -f -a "logs" -d 'Print a server\'s console log'
complete -c vsm -n "__fish_vsm_using_subcommand server; and not __fish_seen_subcommand_from logs recover mark unmark help" -f -a "recover" -d 'Recover a failed server (restart it, or re-create it and re-apply its definitions)'
complete -c vsm -n "__fish_vsm_using_subcommand server; and not __fish_seen_subcommand_from logs recover mark unmark help" -f -a "mark" -d 'Mark a server as failed, with a comment; operations touching it end with a warning'
complete -c vsm -n "__fish_vsm_using_subcommand server; and not __fish_seen_subcommand_from logs recover mark unmark help" -f -a "unmark" -d 'Remove a server\'s failure mark'
complete -c vsm -n "__fish_vsm_using_subcommand server; and not __fish_seen_subcommand_from logs recover mark unmark help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from logs" -l tail -d 'Only the last N lines' -r
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from logs" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from logs" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from logs" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from logs" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from logs" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from recover" -l timeout -d 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)' -r
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from recover" -l wait -d 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)' -r
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from recover" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from recover" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from recover" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from recover" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from recover" -l no-wait -d 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from recover" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from mark" -l comment -d 'Why the server is marked (shown with the server)' -r
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from mark" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from mark" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from mark" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from mark" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from mark" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from unmark" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from unmark" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from unmark" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from unmark" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from unmark" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from help" -f -a "logs" -d 'Print a server\'s console log'
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from help" -f -a "recover" -d 'Recover a failed server (restart it, or re-create it and re-apply its definitions)'
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from help" -f -a "mark" -d 'Mark a server as failed, with a comment; operations touching it end with a warning'
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from help" -f -a "unmark" -d 'Remove a server\'s failure mark'
complete -c vsm -n "__fish_vsm_using_subcommand server; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand op; and not __fish_seen_subcommand_from list show cancel wait help" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand op; and not __fish_seen_subcommand_from list show cancel wait help" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand op; and not __fish_seen_subcommand_from list show cancel wait help" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand op; and not __fish_seen_subcommand_from list show cancel wait help" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand op; and not __fish_seen_subcommand_from list show cancel wait help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand op; and not __fish_seen_subcommand_from list show cancel wait help" -f -a "list" -d 'List operations, newest first'
complete -c vsm -n "__fish_vsm_using_subcommand op; and not __fish_seen_subcommand_from list show cancel wait help" -f -a "show" -d 'Show an operation with its per-server results'
complete -c vsm -n "__fish_vsm_using_subcommand op; and not __fish_seen_subcommand_from list show cancel wait help" -f -a "cancel" -d 'Cancel a running operation (servers already done stay done)'
complete -c vsm -n "__fish_vsm_using_subcommand op; and not __fish_seen_subcommand_from list show cancel wait help" -f -a "wait" -d 'Wait for an operation to finish, showing its progress; exits with its outcome\'s code'
complete -c vsm -n "__fish_vsm_using_subcommand op; and not __fish_seen_subcommand_from list show cancel wait help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from list" -l unit -d 'Only this unit\'s operations' -r
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from list" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from list" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from list" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from show" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from show" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from show" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from cancel" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from cancel" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from cancel" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from cancel" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from cancel" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from wait" -l timeout -d 'Wait at most this long (exit 75 when exceeded; the operation goes on)' -r
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from wait" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from wait" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from wait" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from wait" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from wait" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from help" -f -a "list" -d 'List operations, newest first'
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show an operation with its per-server results'
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from help" -f -a "cancel" -d 'Cancel a running operation (servers already done stay done)'
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from help" -f -a "wait" -d 'Wait for an operation to finish, showing its progress; exits with its outcome\'s code'
complete -c vsm -n "__fish_vsm_using_subcommand op; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and not __fish_seen_subcommand_from ajs-jobnet logtrap-config pfm-export help" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and not __fish_seen_subcommand_from ajs-jobnet logtrap-config pfm-export help" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and not __fish_seen_subcommand_from ajs-jobnet logtrap-config pfm-export help" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and not __fish_seen_subcommand_from ajs-jobnet logtrap-config pfm-export help" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and not __fish_seen_subcommand_from ajs-jobnet logtrap-config pfm-export help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and not __fish_seen_subcommand_from ajs-jobnet logtrap-config pfm-export help" -f -a "ajs-jobnet" -d 'Print a JP1/AJS jobnet definition (ajsdefine) that starts and stops a unit every day'
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and not __fish_seen_subcommand_from ajs-jobnet logtrap-config pfm-export help" -f -a "logtrap-config" -d 'Print the JP1/IM log-file trap action definition matching the manager\'s event log'
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and not __fish_seen_subcommand_from ajs-jobnet logtrap-config pfm-export help" -f -a "pfm-export" -d 'Write the servers\' load figures as a JP1/PFM user-record file (PI_UPI) for jpcuser'
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and not __fish_seen_subcommand_from ajs-jobnet logtrap-config pfm-export help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from ajs-jobnet" -l unit -d 'The unit the jobnet starts and stops' -r
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from ajs-jobnet" -l start -d 'The daily start time' -r
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from ajs-jobnet" -l stop -d 'The daily stop time' -r
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from ajs-jobnet" -l agent -d 'The JP1/AJS agent host that runs the jobs (default: the manager host)' -r
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from ajs-jobnet" -l vsm-path -d 'Where the `vsm` binary is on the agent (default: /usr/local/bin/vsm)' -r
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from ajs-jobnet" -l job-timeout -d '`--timeout` of the generated `vsm unit start|stop` jobs (default 1800)' -r
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from ajs-jobnet" -l job-wait -d '`--wait` of the generated jobs: how long they wait for a busy unit (default 600)' -r
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from ajs-jobnet" -l env-file -d 'An environment file for the jobs (e.g. one that sets VSM_URL and VSM_TOKEN)' -r
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from ajs-jobnet" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from ajs-jobnet" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from ajs-jobnet" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from ajs-jobnet" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from ajs-jobnet" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from logtrap-config" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from logtrap-config" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from logtrap-config" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from logtrap-config" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from logtrap-config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from pfm-export" -l out -d 'The file to write (replaced if it exists)' -r
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from pfm-export" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from pfm-export" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from pfm-export" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from pfm-export" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from pfm-export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from help" -f -a "ajs-jobnet" -d 'Print a JP1/AJS jobnet definition (ajsdefine) that starts and stops a unit every day'
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from help" -f -a "logtrap-config" -d 'Print the JP1/IM log-file trap action definition matching the manager\'s event log'
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from help" -f -a "pfm-export" -d 'Write the servers\' load figures as a JP1/PFM user-record file (PI_UPI) for jpcuser'
complete -c vsm -n "__fish_vsm_using_subcommand jp1; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand completions" -s o -l output -d 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise' -r -f -a "table\t'Aligned tables and sentences for people'
json\t'One JSON document on standard output (documented in docs/cli.md)'"
complete -c vsm -n "__fish_vsm_using_subcommand completions" -l url -d 'The manager\'s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one' -r
complete -c vsm -n "__fish_vsm_using_subcommand completions" -l ca-cert -d 'A PEM file with the CA certificate(s) to trust when the manager serves TLS' -r
complete -c vsm -n "__fish_vsm_using_subcommand completions" -l color -d 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR' -r -f -a "auto\t'Only on a terminal, and not when NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c vsm -n "__fish_vsm_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vsm -n "__fish_vsm_using_subcommand help; and not __fish_seen_subcommand_from manager login logout whoami account host template unit group server op jp1 completions help" -f -a "manager" -d 'Run and administer the manager on this host (init, start, stop, status, backup, ...)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and not __fish_seen_subcommand_from manager login logout whoami account host template unit group server op jp1 completions help" -f -a "login" -d 'Log in to the manager and save the session for the following commands'
complete -c vsm -n "__fish_vsm_using_subcommand help; and not __fish_seen_subcommand_from manager login logout whoami account host template unit group server op jp1 completions help" -f -a "logout" -d 'End the saved session with the manager and forget it'
complete -c vsm -n "__fish_vsm_using_subcommand help; and not __fish_seen_subcommand_from manager login logout whoami account host template unit group server op jp1 completions help" -f -a "whoami" -d 'Show the account and role of the current session'
complete -c vsm -n "__fish_vsm_using_subcommand help; and not __fish_seen_subcommand_from manager login logout whoami account host template unit group server op jp1 completions help" -f -a "account" -d 'Manage accounts (administrator): add, delete, list, change passwords'
complete -c vsm -n "__fish_vsm_using_subcommand help; and not __fish_seen_subcommand_from manager login logout whoami account host template unit group server op jp1 completions help" -f -a "host" -d 'Manage the host pool (administrator): the hypervisor hosts that servers are placed on'
complete -c vsm -n "__fish_vsm_using_subcommand help; and not __fish_seen_subcommand_from manager login logout whoami account host template unit group server op jp1 completions help" -f -a "template" -d 'Manage server templates: base images that servers are cloned from'
complete -c vsm -n "__fish_vsm_using_subcommand help; and not __fish_seen_subcommand_from manager login logout whoami account host template unit group server op jp1 completions help" -f -a "unit" -d 'Manage units: named sets of server groups with one owner and imported definitions'
complete -c vsm -n "__fish_vsm_using_subcommand help; and not __fish_seen_subcommand_from manager login logout whoami account host template unit group server op jp1 completions help" -f -a "group" -d 'Start, stop, attach to and detach from one group of a unit'
complete -c vsm -n "__fish_vsm_using_subcommand help; and not __fish_seen_subcommand_from manager login logout whoami account host template unit group server op jp1 completions help" -f -a "server" -d 'Look at and repair single servers: logs, recovery, failure marks'
complete -c vsm -n "__fish_vsm_using_subcommand help; and not __fish_seen_subcommand_from manager login logout whoami account host template unit group server op jp1 completions help" -f -a "op" -d 'Follow, inspect and cancel operations (the journaled runs of changes)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and not __fish_seen_subcommand_from manager login logout whoami account host template unit group server op jp1 completions help" -f -a "jp1" -d 'Generate JP1 integration files (JP1/AJS jobnets, JP1/IM log-file trap, JP1/PFM records)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and not __fish_seen_subcommand_from manager login logout whoami account host template unit group server op jp1 completions help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell) on standard output'
complete -c vsm -n "__fish_vsm_using_subcommand help; and not __fish_seen_subcommand_from manager login logout whoami account host template unit group server op jp1 completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from manager" -f -a "init" -d 'Create a state directory: configuration file, state store and the first administrator'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from manager" -f -a "start" -d 'Run the manager: serve the API on the listen address until stopped'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from manager" -f -a "stop" -d 'Stop the manager of a state directory gracefully and wait until it has exited'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from manager" -f -a "status" -d 'Show whether the manager of a state directory runs, its address and its health'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from manager" -f -a "backup" -d 'Write an online, consistent backup of the manager (administrator) to a file'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from manager" -f -a "restore" -d 'Restore a state directory from a backup file; the manager must be stopped'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from manager" -f -a "migrate-store" -d 'Move a stopped manager\'s SQLite state into an empty PostgreSQL database'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from manager" -f -a "uninstall" -d 'Remove the manager\'s operating environment: its state directory (seed A4)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from manager" -f -a "diagnose" -d 'Write a diagnostics bundle (logs, config, state summary, recent operations) to a file'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from manager" -f -a "log-config" -d 'Show the manager\'s log settings, or change them (applied without restart)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from account" -f -a "add" -d 'Add an account (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from account" -f -a "delete" -d 'Delete an account (administrator); refused while it owns units (move them with `vsm unit chown`)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from account" -f -a "list" -d 'List the accounts (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from account" -f -a "passwd" -d 'Change an account\'s password (administrator, or the account itself)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from host" -f -a "add" -d 'Add a hypervisor host to the pool (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from host" -f -a "list" -d 'List the hosts of the pool with their state, connection, use and labels (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from host" -f -a "show" -d 'Show a host: how it is reached, capacity, ratios, state, labels and the servers on it'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from host" -f -a "remove" -d 'Remove a host from the pool (administrator); refused for a built-in host and while servers are placed on it'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from host" -f -a "undrain" -d 'Put a draining host, or one in maintenance, back into service: it takes new servers again'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from host" -f -a "drain" -d 'Move every server off a host for maintenance (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from host" -f -a "confirm-down" -d 'Confirm that a down host is lost (powered off or fenced) so that its servers restart on the other hosts (administrator; hosts with `fencing: manual`). Refused for a host that is not down: a host that still runs its servers must never be confirmed lost'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from host" -f -a "rebalance" -d 'Restore the spread of `spread` groups over their hosts, e.g. after a host returned or was added (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from template" -f -a "register" -d 'Register a template (generation 1) from a source the driver understands'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from template" -f -a "update" -d 'Add a new generation of a template (e.g. a patched image); `vsm unit upgrade` rolls it out'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from template" -f -a "list" -d 'List the templates'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from template" -f -a "show" -d 'Show a template and its generations'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from template" -f -a "delete" -d 'Delete a template; refused while a unit\'s group uses it'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from unit" -f -a "create" -d 'Create a unit from a unit file (groups: template, count, min, max, start order); you own it'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from unit" -f -a "list" -d 'List your units (administrators: `--all` lists every owner\'s units)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from unit" -f -a "show" -d 'Show a unit: definition version and status, groups, servers, states, addresses, last operations'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from unit" -f -a "chown" -d 'Give a unit to another account (administrator)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from unit" -f -a "import" -d 'Import a definition directory into a unit as a new immutable version (not yet applied)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from unit" -f -a "export" -d 'Write a definition version of a unit back out as a directory'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from unit" -f -a "diff" -d 'Show what importing a directory would change, per group and file (changes nothing)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from unit" -f -a "apply" -d 'Apply a definition version to every server of the unit (batch apply / rolling roll-out)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from unit" -f -a "rollback" -d 'Re-apply the previous definition version'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from unit" -f -a "start" -d 'Start the unit: all groups in start order, each after the previous is healthy'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from unit" -f -a "stop" -d 'Stop the unit: all groups in reverse start order'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from unit" -f -a "scale" -d 'Scale a provisioned group out or in (within its min/max)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from unit" -f -a "upgrade" -d 'Re-provision the unit\'s servers onto their template\'s newest generation'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from unit" -f -a "delete" -d 'Delete a unit: stop and destroy its servers (an audit record is kept)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from unit" -f -a "versions" -d 'List the imported definition versions of a unit'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from group" -f -a "start" -d 'Start one group of a unit'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from group" -f -a "stop" -d 'Stop one group of a unit'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from group" -f -a "attach" -d 'Registered groups: add an existing machine by address (checked reachable over SSH)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from group" -f -a "detach" -d 'Registered groups: remove a server from the group; the machine itself is untouched'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from server" -f -a "logs" -d 'Print a server\'s console log'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from server" -f -a "recover" -d 'Recover a failed server (restart it, or re-create it and re-apply its definitions)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from server" -f -a "mark" -d 'Mark a server as failed, with a comment; operations touching it end with a warning'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from server" -f -a "unmark" -d 'Remove a server\'s failure mark'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from op" -f -a "list" -d 'List operations, newest first'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from op" -f -a "show" -d 'Show an operation with its per-server results'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from op" -f -a "cancel" -d 'Cancel a running operation (servers already done stay done)'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from op" -f -a "wait" -d 'Wait for an operation to finish, showing its progress; exits with its outcome\'s code'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from jp1" -f -a "ajs-jobnet" -d 'Print a JP1/AJS jobnet definition (ajsdefine) that starts and stops a unit every day'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from jp1" -f -a "logtrap-config" -d 'Print the JP1/IM log-file trap action definition matching the manager\'s event log'
complete -c vsm -n "__fish_vsm_using_subcommand help; and __fish_seen_subcommand_from jp1" -f -a "pfm-export" -d 'Write the servers\' load figures as a JP1/PFM user-record file (PI_UPI) for jpcuser'

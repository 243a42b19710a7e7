
use builtin;
use str;

set edit:completion:arg-completer[vsm] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'vsm'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'vsm'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand manager 'Run and administer the manager on this host (init, start, stop, status, backup, ...)'
            cand login 'Log in to the manager and save the session for the following commands'
            cand logout 'End the saved session with the manager and forget it'
            cand whoami 'Show the account and role of the current session'
            cand account 'Manage accounts (administrator): add, delete, list, change passwords'
            cand host 'Manage the host pool (administrator): the hypervisor hosts that servers are placed on'
            cand template 'Manage server templates: base images that servers are cloned from'
            cand unit 'Manage units: named sets of server groups with one owner and imported definitions'
            cand group 'Start, stop, attach to and detach from one group of a unit'
            cand server 'Look at and repair single servers: logs, recovery, failure marks'
            cand op 'Follow, inspect and cancel operations (the journaled runs of changes)'
            cand jp1 'Generate JP1 integration files (JP1/AJS jobnets, JP1/IM log-file trap, JP1/PFM records)'
            cand completions 'Print a shell completion script (bash, zsh, fish, elvish, powershell) on standard output'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;manager'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand init 'Create a state directory: configuration file, state store and the first administrator'
            cand start 'Run the manager: serve the API on the listen address until stopped'
            cand stop 'Stop the manager of a state directory gracefully and wait until it has exited'
            cand status 'Show whether the manager of a state directory runs, its address and its health'
            cand backup 'Write an online, consistent backup of the manager (administrator) to a file'
            cand restore 'Restore a state directory from a backup file; the manager must be stopped'
            cand migrate-store 'Move a stopped manager''s SQLite state into an empty PostgreSQL database'
            cand uninstall 'Remove the manager''s operating environment: its state directory (seed A4)'
            cand diagnose 'Write a diagnostics bundle (logs, config, state summary, recent operations) to a file'
            cand log-config 'Show the manager''s log settings, or change them (applied without restart)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;manager;init'= {
            cand --dir 'The state directory to create (must not exist, or be empty)'
            cand --admin 'The name of the first administrator account'
            cand --listen 'The address the manager listens on, written to the configuration'
            cand --store 'The state store: `sqlite` (default) or postgres://USER@HOST:PORT/DATABASE, an empty database (no password in the URL; TLS with ?sslmode=verify-full[&sslrootcert=/ca.pem] or ?sslmode=require)'
            cand --store-password-file 'An owner-only file (chmod 600) holding the PostgreSQL password; written to the configuration as `store_password_file`. Without it, VSM_STORE_PASSWORD is used'
            cand --definitions-dir 'The definition snapshot store (default: DIR/definitions); with PostgreSQL, a directory every manager of the database reaches'
            cand --password-file 'Read the password from the first line of FILE'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --password-stdin 'Read the password from standard input (its first line)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;manager;start'= {
            cand --dir 'The manager''s state directory (created by `vsm manager init`)'
            cand --listen 'Listen on this address instead of the configured one (port 0 picks a free port)'
            cand --timeout 'With --detach: how long to wait for the API to answer'
            cand --libvirt-uri 'Also drive libvirt at this URI (e.g. qemu:///system; needs a vsm built with the `libvirt` feature)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --detach 'Start in the background and return once the API answers'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;manager;stop'= {
            cand --dir 'The manager''s state directory'
            cand --timeout 'How long to wait for the manager to exit (exit code 75 when exceeded; it keeps stopping)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;manager;status'= {
            cand --dir 'The manager''s state directory'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;manager;backup'= {
            cand --out 'The file to write (replaced if it exists)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;manager;restore'= {
            cand --dir 'The state directory to restore into (the manager must be stopped)'
            cand --from 'The backup file written by `vsm manager backup`'
            cand --store 'Restore into this store instead of the archive''s: `sqlite` or a PostgreSQL URL of an empty database'
            cand --store-password-file 'An owner-only file (chmod 600) holding the PostgreSQL password; written to the configuration as `store_password_file`. Without it, VSM_STORE_PASSWORD is used'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;manager;migrate-store'= {
            cand --dir 'The stopped manager''s state directory'
            cand --to 'The empty PostgreSQL database: postgres://USER@HOST:PORT/DATABASE (no password in it)'
            cand --store-password-file 'An owner-only file (chmod 600) holding the PostgreSQL password; written to the configuration as `store_password_file`. Without it, VSM_STORE_PASSWORD is used'
            cand --definitions-dir 'Also copy the definition snapshots into this shared directory and configure it'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;manager;uninstall'= {
            cand --dir 'The state directory to remove (the manager must be stopped)'
            cand --backup 'Where the final backup goes (default: `DIR.final-backup.tar` beside the directory)'
            cand --libvirt-uri 'libvirt: the URI the manager ran with, to reach its VMs when destroying them'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --destroy-servers 'Delete every unit and its servers first, instead of refusing while units have servers'
            cand --no-backup 'Write no final backup'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;manager;diagnose'= {
            cand --out 'The file to write (replaced if it exists)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;manager;log-config'= {
            cand --log-dir 'The directory log files are written to'
            cand --files 'How many log files are kept'
            cand --size-mb 'The size of one log file in MiB before it is rotated'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;manager;help'= {
            cand init 'Create a state directory: configuration file, state store and the first administrator'
            cand start 'Run the manager: serve the API on the listen address until stopped'
            cand stop 'Stop the manager of a state directory gracefully and wait until it has exited'
            cand status 'Show whether the manager of a state directory runs, its address and its health'
            cand backup 'Write an online, consistent backup of the manager (administrator) to a file'
            cand restore 'Restore a state directory from a backup file; the manager must be stopped'
            cand migrate-store 'Move a stopped manager''s SQLite state into an empty PostgreSQL database'
            cand uninstall 'Remove the manager''s operating environment: its state directory (seed A4)'
            cand diagnose 'Write a diagnostics bundle (logs, config, state summary, recent operations) to a file'
            cand log-config 'Show the manager''s log settings, or change them (applied without restart)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;manager;help;init'= {
        }
        &'vsm;manager;help;start'= {
        }
        &'vsm;manager;help;stop'= {
        }
        &'vsm;manager;help;status'= {
        }
        &'vsm;manager;help;backup'= {
        }
        &'vsm;manager;help;restore'= {
        }
        &'vsm;manager;help;migrate-store'= {
        }
        &'vsm;manager;help;uninstall'= {
        }
        &'vsm;manager;help;diagnose'= {
        }
        &'vsm;manager;help;log-config'= {
        }
        &'vsm;manager;help;help'= {
        }
        &'vsm;login'= {
            cand --user 'The account to log in as'
            cand --password-file 'Read the password from the first line of FILE'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --password-stdin 'Read the password from standard input (its first line)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;logout'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;whoami'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;account'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand add 'Add an account (administrator)'
            cand delete 'Delete an account (administrator); refused while it owns units (move them with `vsm unit chown`)'
            cand list 'List the accounts (administrator)'
            cand passwd 'Change an account''s password (administrator, or the account itself)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;account;add'= {
            cand --role 'The account''s role'
            cand --password-file 'Read the password from the first line of FILE'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --password-stdin 'Read the password from standard input (its first line)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;account;delete'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;account;list'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;account;passwd'= {
            cand --password-file 'Read the password from the first line of FILE'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --password-stdin 'Read the password from standard input (its first line)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;account;help'= {
            cand add 'Add an account (administrator)'
            cand delete 'Delete an account (administrator); refused while it owns units (move them with `vsm unit chown`)'
            cand list 'List the accounts (administrator)'
            cand passwd 'Change an account''s password (administrator, or the account itself)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;account;help;add'= {
        }
        &'vsm;account;help;delete'= {
        }
        &'vsm;account;help;list'= {
        }
        &'vsm;account;help;passwd'= {
        }
        &'vsm;account;help;help'= {
        }
        &'vsm;host'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand add 'Add a hypervisor host to the pool (administrator)'
            cand list 'List the hosts of the pool with their state, connection, use and labels (administrator)'
            cand show 'Show a host: how it is reached, capacity, ratios, state, labels and the servers on it'
            cand remove 'Remove a host from the pool (administrator); refused for a built-in host and while servers are placed on it'
            cand undrain 'Put a draining host, or one in maintenance, back into service: it takes new servers again'
            cand drain 'Move every server off a host for maintenance (administrator)'
            cand confirm-down 'Confirm that a down host is lost (powered off or fenced) so that its servers restart on the other hosts (administrator; hosts with `fencing: manual`). Refused for a host that is not down: a host that still runs its servers must never be confirmed lost'
            cand rebalance 'Restore the spread of `spread` groups over their hosts, e.g. after a host returned or was added (administrator)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;host;add'= {
            cand --driver 'The hypervisor driver that runs the host''s servers'
            cand --uri 'libvirt: the connection URI (e.g. qemu:///system, qemu+ssh://root@kvm-01/system)'
            cand --dir 'local: the driver''s state directory for this host (relative paths are made absolute)'
            cand --label 'A label that units select hosts by (`placement.hosts` in a unit file); repeat it for more'
            cand --cpu-ratio 'vCPUs handed out per physical CPU (default 16.0)'
            cand --ram-ratio 'MiB of memory handed out per MiB of unreserved memory (default 1.5)'
            cand --reserved-memory-mb 'Memory kept for the host itself, in MiB (default 0)'
            cand --fencing 'What the host''s loss needs before its servers are restarted elsewhere (default manual)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;host;list'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;host;show'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;host;remove'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;host;undrain'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;host;drain'= {
            cand --timeout 'How long the drain may take, in seconds (default 600); what is not moved by then stays'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;host;confirm-down'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;host;rebalance'= {
            cand --timeout 'How long applying the moves may take, in seconds (default 600)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --dry-run 'Only list the moves; change nothing'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;host;help'= {
            cand add 'Add a hypervisor host to the pool (administrator)'
            cand list 'List the hosts of the pool with their state, connection, use and labels (administrator)'
            cand show 'Show a host: how it is reached, capacity, ratios, state, labels and the servers on it'
            cand remove 'Remove a host from the pool (administrator); refused for a built-in host and while servers are placed on it'
            cand undrain 'Put a draining host, or one in maintenance, back into service: it takes new servers again'
            cand drain 'Move every server off a host for maintenance (administrator)'
            cand confirm-down 'Confirm that a down host is lost (powered off or fenced) so that its servers restart on the other hosts (administrator; hosts with `fencing: manual`). Refused for a host that is not down: a host that still runs its servers must never be confirmed lost'
            cand rebalance 'Restore the spread of `spread` groups over their hosts, e.g. after a host returned or was added (administrator)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;host;help;add'= {
        }
        &'vsm;host;help;list'= {
        }
        &'vsm;host;help;show'= {
        }
        &'vsm;host;help;remove'= {
        }
        &'vsm;host;help;undrain'= {
        }
        &'vsm;host;help;drain'= {
        }
        &'vsm;host;help;confirm-down'= {
        }
        &'vsm;host;help;rebalance'= {
        }
        &'vsm;host;help;help'= {
        }
        &'vsm;template'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand register 'Register a template (generation 1) from a source the driver understands'
            cand update 'Add a new generation of a template (e.g. a patched image); `vsm unit upgrade` rolls it out'
            cand list 'List the templates'
            cand show 'Show a template and its generations'
            cand delete 'Delete a template; refused while a unit''s group uses it'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;template;register'= {
            cand --driver 'The hypervisor driver the template belongs to'
            cand --source 'local: a template directory on the management host; libvirt: a domain or volume'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;template;update'= {
            cand --source 'The source of the new generation (same kind as at registration)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;template;list'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;template;show'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;template;delete'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;template;help'= {
            cand register 'Register a template (generation 1) from a source the driver understands'
            cand update 'Add a new generation of a template (e.g. a patched image); `vsm unit upgrade` rolls it out'
            cand list 'List the templates'
            cand show 'Show a template and its generations'
            cand delete 'Delete a template; refused while a unit''s group uses it'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;template;help;register'= {
        }
        &'vsm;template;help;update'= {
        }
        &'vsm;template;help;list'= {
        }
        &'vsm;template;help;show'= {
        }
        &'vsm;template;help;delete'= {
        }
        &'vsm;template;help;help'= {
        }
        &'vsm;unit'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand create 'Create a unit from a unit file (groups: template, count, min, max, start order); you own it'
            cand list 'List your units (administrators: `--all` lists every owner''s units)'
            cand show 'Show a unit: definition version and status, groups, servers, states, addresses, last operations'
            cand chown 'Give a unit to another account (administrator)'
            cand import 'Import a definition directory into a unit as a new immutable version (not yet applied)'
            cand export 'Write a definition version of a unit back out as a directory'
            cand diff 'Show what importing a directory would change, per group and file (changes nothing)'
            cand apply 'Apply a definition version to every server of the unit (batch apply / rolling roll-out)'
            cand rollback 'Re-apply the previous definition version'
            cand start 'Start the unit: all groups in start order, each after the previous is healthy'
            cand stop 'Stop the unit: all groups in reverse start order'
            cand scale 'Scale a provisioned group out or in (within its min/max)'
            cand upgrade 'Re-provision the unit''s servers onto their template''s newest generation'
            cand delete 'Delete a unit: stop and destroy its servers (an audit record is kept)'
            cand versions 'List the imported definition versions of a unit'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;unit;create'= {
            cand -f 'The unit file (YAML; format documented in docs/unit-format.md)'
            cand --file 'The unit file (YAML; format documented in docs/unit-format.md)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;unit;list'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --all 'Every owner''s units (administrator)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;unit;show'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --watch 'Keep showing the unit, redrawn (or, with `--output json`, printed again as one line of JSON) on every change, until Ctrl-C'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;unit;chown'= {
            cand --to 'The new owner'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;unit;import'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;unit;export'= {
            cand --version 'The version to export (default: the current one)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;unit;diff'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;unit;apply'= {
            cand --version 'The version to apply (default: the newest imported)'
            cand --batch 'Roll out in batches of N servers or P% of the unit (default: all at once when stopped, one by one on a running unit)'
            cand --max-unhealthy 'Abort when more than P% of the servers updated so far fail their health checks (default: the first failing batch aborts)'
            cand --pause 'Pause between batches'
            cand --timeout 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)'
            cand --wait 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --no-rollback 'On abort, leave the touched servers on the new version instead of rolling them back'
            cand --no-wait 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;unit;rollback'= {
            cand --timeout 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)'
            cand --wait 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --no-wait 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;unit;start'= {
            cand --timeout 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)'
            cand --wait 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --no-wait 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;unit;stop'= {
            cand --timeout 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)'
            cand --wait 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --no-wait 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;unit;scale'= {
            cand --count 'The new number of servers (within the group''s min and max)'
            cand --remove 'Scale in by removing these servers instead of choosing by the group''s policy'
            cand --grace 'Drain time before a scaled-in server is stopped (default: the group''s `grace`)'
            cand --timeout 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)'
            cand --wait 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --no-wait 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;unit;upgrade'= {
            cand --batch 'Re-provision in batches of N servers or P% of the unit'
            cand --surge 'Create N new servers first, then retire old ones, so capacity never drops'
            cand --timeout 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)'
            cand --wait 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --no-wait 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;unit;delete'= {
            cand --timeout 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)'
            cand --wait 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --force 'Delete even when servers are running or marked failed'
            cand --no-wait 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;unit;versions'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;unit;help'= {
            cand create 'Create a unit from a unit file (groups: template, count, min, max, start order); you own it'
            cand list 'List your units (administrators: `--all` lists every owner''s units)'
            cand show 'Show a unit: definition version and status, groups, servers, states, addresses, last operations'
            cand chown 'Give a unit to another account (administrator)'
            cand import 'Import a definition directory into a unit as a new immutable version (not yet applied)'
            cand export 'Write a definition version of a unit back out as a directory'
            cand diff 'Show what importing a directory would change, per group and file (changes nothing)'
            cand apply 'Apply a definition version to every server of the unit (batch apply / rolling roll-out)'
            cand rollback 'Re-apply the previous definition version'
            cand start 'Start the unit: all groups in start order, each after the previous is healthy'
            cand stop 'Stop the unit: all groups in reverse start order'
            cand scale 'Scale a provisioned group out or in (within its min/max)'
            cand upgrade 'Re-provision the unit''s servers onto their template''s newest generation'
            cand delete 'Delete a unit: stop and destroy its servers (an audit record is kept)'
            cand versions 'List the imported definition versions of a unit'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;unit;help;create'= {
        }
        &'vsm;unit;help;list'= {
        }
        &'vsm;unit;help;show'= {
        }
        &'vsm;unit;help;chown'= {
        }
        &'vsm;unit;help;import'= {
        }
        &'vsm;unit;help;export'= {
        }
        &'vsm;unit;help;diff'= {
        }
        &'vsm;unit;help;apply'= {
        }
        &'vsm;unit;help;rollback'= {
        }
        &'vsm;unit;help;start'= {
        }
        &'vsm;unit;help;stop'= {
        }
        &'vsm;unit;help;scale'= {
        }
        &'vsm;unit;help;upgrade'= {
        }
        &'vsm;unit;help;delete'= {
        }
        &'vsm;unit;help;versions'= {
        }
        &'vsm;unit;help;help'= {
        }
        &'vsm;group'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand start 'Start one group of a unit'
            cand stop 'Stop one group of a unit'
            cand attach 'Registered groups: add an existing machine by address (checked reachable over SSH)'
            cand detach 'Registered groups: remove a server from the group; the machine itself is untouched'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;group;start'= {
            cand --timeout 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)'
            cand --wait 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --no-wait 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;group;stop'= {
            cand --timeout 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)'
            cand --wait 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --no-wait 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;group;attach'= {
            cand --address 'The machine''s management address (host or IP, optionally :port for SSH)'
            cand --name 'The server''s name in the unit (default: derived from the group name)'
            cand --timeout 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)'
            cand --wait 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --no-wait 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;group;detach'= {
            cand --timeout 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)'
            cand --wait 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --no-wait 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;group;help'= {
            cand start 'Start one group of a unit'
            cand stop 'Stop one group of a unit'
            cand attach 'Registered groups: add an existing machine by address (checked reachable over SSH)'
            cand detach 'Registered groups: remove a server from the group; the machine itself is untouched'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;group;help;start'= {
        }
        &'vsm;group;help;stop'= {
        }
        &'vsm;group;help;attach'= {
        }
        &'vsm;group;help;detach'= {
        }
        &'vsm;group;help;help'= {
        }
        &'vsm;server'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand logs 'Print a server''s console log'
            cand recover 'Recover a failed server (restart it, or re-create it and re-apply its definitions)'
            cand mark 'Mark a server as failed, with a comment; operations touching it end with a warning'
            cand unmark 'Remove a server''s failure mark'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;server;logs'= {
            cand --tail 'Only the last N lines'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;server;recover'= {
            cand --timeout 'Wait at most this long for the operation to finish; when exceeded, exit with 75 and leave the operation running in the manager (`vsm op show ID` follows it)'
            cand --wait 'When the unit is busy with another operation, wait up to this long for it instead of exiting with 2 (exclusion)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand --no-wait 'Do not wait for the operation: print its id and exit 0 once the manager accepted it'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;server;mark'= {
            cand --comment 'Why the server is marked (shown with the server)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;server;unmark'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;server;help'= {
            cand logs 'Print a server''s console log'
            cand recover 'Recover a failed server (restart it, or re-create it and re-apply its definitions)'
            cand mark 'Mark a server as failed, with a comment; operations touching it end with a warning'
            cand unmark 'Remove a server''s failure mark'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;server;help;logs'= {
        }
        &'vsm;server;help;recover'= {
        }
        &'vsm;server;help;mark'= {
        }
        &'vsm;server;help;unmark'= {
        }
        &'vsm;server;help;help'= {
        }
        &'vsm;op'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand list 'List operations, newest first'
            cand show 'Show an operation with its per-server results'
            cand cancel 'Cancel a running operation (servers already done stay done)'
            cand wait 'Wait for an operation to finish, showing its progress; exits with its outcome''s code'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;op;list'= {
            cand --unit 'Only this unit''s operations'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;op;show'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;op;cancel'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;op;wait'= {
            cand --timeout 'Wait at most this long (exit 75 when exceeded; the operation goes on)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;op;help'= {
            cand list 'List operations, newest first'
            cand show 'Show an operation with its per-server results'
            cand cancel 'Cancel a running operation (servers already done stay done)'
            cand wait 'Wait for an operation to finish, showing its progress; exits with its outcome''s code'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;op;help;list'= {
        }
        &'vsm;op;help;show'= {
        }
        &'vsm;op;help;cancel'= {
        }
        &'vsm;op;help;wait'= {
        }
        &'vsm;op;help;help'= {
        }
        &'vsm;jp1'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand ajs-jobnet 'Print a JP1/AJS jobnet definition (ajsdefine) that starts and stops a unit every day'
            cand logtrap-config 'Print the JP1/IM log-file trap action definition matching the manager''s event log'
            cand pfm-export 'Write the servers'' load figures as a JP1/PFM user-record file (PI_UPI) for jpcuser'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;jp1;ajs-jobnet'= {
            cand --unit 'The unit the jobnet starts and stops'
            cand --start 'The daily start time'
            cand --stop 'The daily stop time'
            cand --agent 'The JP1/AJS agent host that runs the jobs (default: the manager host)'
            cand --vsm-path 'Where the `vsm` binary is on the agent (default: /usr/local/bin/vsm)'
            cand --job-timeout '`--timeout` of the generated `vsm unit start|stop` jobs (default 1800)'
            cand --job-wait '`--wait` of the generated jobs: how long they wait for a busy unit (default 600)'
            cand --env-file 'An environment file for the jobs (e.g. one that sets VSM_URL and VSM_TOKEN)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;jp1;logtrap-config'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;jp1;pfm-export'= {
            cand --out 'The file to write (replaced if it exists)'
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;jp1;help'= {
            cand ajs-jobnet 'Print a JP1/AJS jobnet definition (ajsdefine) that starts and stops a unit every day'
            cand logtrap-config 'Print the JP1/IM log-file trap action definition matching the manager''s event log'
            cand pfm-export 'Write the servers'' load figures as a JP1/PFM user-record file (PI_UPI) for jpcuser'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;jp1;help;ajs-jobnet'= {
        }
        &'vsm;jp1;help;logtrap-config'= {
        }
        &'vsm;jp1;help;pfm-export'= {
        }
        &'vsm;jp1;help;help'= {
        }
        &'vsm;completions'= {
            cand -o 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --output 'Output format: `table` for people, `json` for scripts (stable, see docs/cli.md). Default: table when standard output is a terminal, json otherwise'
            cand --url 'The manager''s URL. Several managers on one PostgreSQL store: their URLs separated by commas (`a,b`); commands go to the active one'
            cand --ca-cert 'A PEM file with the CA certificate(s) to trust when the manager serves TLS'
            cand --color 'When to colour human output: `auto` colours only on a terminal and respects NO_COLOR'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'vsm;help'= {
            cand manager 'Run and administer the manager on this host (init, start, stop, status, backup, ...)'
            cand login 'Log in to the manager and save the session for the following commands'
            cand logout 'End the saved session with the manager and forget it'
            cand whoami 'Show the account and role of the current session'
            cand account 'Manage accounts (administrator): add, delete, list, change passwords'
            cand host 'Manage the host pool (administrator): the hypervisor hosts that servers are placed on'
            cand template 'Manage server templates: base images that servers are cloned from'
            cand unit 'Manage units: named sets of server groups with one owner and imported definitions'
            cand group 'Start, stop, attach to and detach from one group of a unit'
            cand server 'Look at and repair single servers: logs, recovery, failure marks'
            cand op 'Follow, inspect and cancel operations (the journaled runs of changes)'
            cand jp1 'Generate JP1 integration files (JP1/AJS jobnets, JP1/IM log-file trap, JP1/PFM records)'
            cand completions 'Print a shell completion script (bash, zsh, fish, elvish, powershell) on standard output'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'vsm;help;manager'= {
            cand init 'Create a state directory: configuration file, state store and the first administrator'
            cand start 'Run the manager: serve the API on the listen address until stopped'
            cand stop 'Stop the manager of a state directory gracefully and wait until it has exited'
            cand status 'Show whether the manager of a state directory runs, its address and its health'
            cand backup 'Write an online, consistent backup of the manager (administrator) to a file'
            cand restore 'Restore a state directory from a backup file; the manager must be stopped'
            cand migrate-store 'Move a stopped manager''s SQLite state into an empty PostgreSQL database'
            cand uninstall 'Remove the manager''s operating environment: its state directory (seed A4)'
            cand diagnose 'Write a diagnostics bundle (logs, config, state summary, recent operations) to a file'
            cand log-config 'Show the manager''s log settings, or change them (applied without restart)'
        }
        &'vsm;help;manager;init'= {
        }
        &'vsm;help;manager;start'= {
        }
        &'vsm;help;manager;stop'= {
        }
        &'vsm;help;manager;status'= {
        }
        &'vsm;help;manager;backup'= {
        }
        &'vsm;help;manager;restore'= {
        }
        &'vsm;help;manager;migrate-store'= {
        }
        &'vsm;help;manager;uninstall'= {
        }
        &'vsm;help;manager;diagnose'= {
        }
        &'vsm;help;manager;log-config'= {
        }
        &'vsm;help;login'= {
        }
        &'vsm;help;logout'= {
        }
        &'vsm;help;whoami'= {
        }
        &'vsm;help;account'= {
            cand add 'Add an account (administrator)'
            cand delete 'Delete an account (administrator); refused while it owns units (move them with `vsm unit chown`)'
            cand list 'List the accounts (administrator)'
            cand passwd 'Change an account''s password (administrator, or the account itself)'
        }
        &'vsm;help;account;add'= {
        }
        &'vsm;help;account;delete'= {
        }
        &'vsm;help;account;list'= {
        }
        &'vsm;help;account;passwd'= {
        }
        &'vsm;help;host'= {
            cand add 'Add a hypervisor host to the pool (administrator)'
            cand list 'List the hosts of the pool with their state, connection, use and labels (administrator)'
            cand show 'Show a host: how it is reached, capacity, ratios, state, labels and the servers on it'
            cand remove 'Remove a host from the pool (administrator); refused for a built-in host and while servers are placed on it'
            cand undrain 'Put a draining host, or one in maintenance, back into service: it takes new servers again'
            cand drain 'Move every server off a host for maintenance (administrator)'
            cand confirm-down 'Confirm that a down host is lost (powered off or fenced) so that its servers restart on the other hosts (administrator; hosts with `fencing: manual`). Refused for a host that is not down: a host that still runs its servers must never be confirmed lost'
            cand rebalance 'Restore the spread of `spread` groups over their hosts, e.g. after a host returned or was added (administrator)'
        }
        &'vsm;help;host;add'= {
        }
        &'vsm;help;host;list'= {
        }
        &'vsm;help;host;show'= {
        }
        &'vsm;help;host;remove'= {
        }
        &'vsm;help;host;undrain'= {
        }
        &'vsm;help;host;drain'= {
        }
        &'vsm;help;host;confirm-down'= {
        }
        &'vsm;help;host;rebalance'= {
        }
        &'vsm;help;template'= {
            cand register 'Register a template (generation 1) from a source the driver understands'
            cand update 'Add a new generation of a template (e.g. a patched image); `vsm unit upgrade` rolls it out'
            cand list 'List the templates'
            cand show 'Show a template and its generations'
            cand delete 'Delete a template; refused while a unit''s group uses it'
        }
        &'vsm;help;template;register'= {
        }
        &'vsm;help;template;update'= {
        }
        &'vsm;help;template;list'= {
        }
        &'vsm;help;template;show'= {
        }
        &'vsm;help;template;delete'= {
        }
        &'vsm;help;unit'= {
            cand create 'Create a unit from a unit file (groups: template, count, min, max, start order); you own it'
            cand list 'List your units (administrators: `--all` lists every owner''s units)'
            cand show 'Show a unit: definition version and status, groups, servers, states, addresses, last operations'
            cand chown 'Give a unit to another account (administrator)'
            cand import 'Import a definition directory into a unit as a new immutable version (not yet applied)'
            cand export 'Write a definition version of a unit back out as a directory'
            cand diff 'Show what importing a directory would change, per group and file (changes nothing)'
            cand apply 'Apply a definition version to every server of the unit (batch apply / rolling roll-out)'
            cand rollback 'Re-apply the previous definition version'
            cand start 'Start the unit: all groups in start order, each after the previous is healthy'
            cand stop 'Stop the unit: all groups in reverse start order'
            cand scale 'Scale a provisioned group out or in (within its min/max)'
            cand upgrade 'Re-provision the unit''s servers onto their template''s newest generation'
            cand delete 'Delete a unit: stop and destroy its servers (an audit record is kept)'
            cand versions 'List the imported definition versions of a unit'
        }
        &'vsm;help;unit;create'= {
        }
        &'vsm;help;unit;list'= {
        }
        &'vsm;help;unit;show'= {
        }
        &'vsm;help;unit;chown'= {
        }
        &'vsm;help;unit;import'= {
        }
        &'vsm;help;unit;export'= {
        }
        &'vsm;help;unit;diff'= {
        }
        &'vsm;help;unit;apply'= {
        }
        &'vsm;help;unit;rollback'= {
        }
        &'vsm;help;unit;start'= {
        }
        &'vsm;help;unit;stop'= {
        }
        &'vsm;help;unit;scale'= {
        }
        &'vsm;help;unit;upgrade'= {
        }
        &'vsm;help;unit;delete'= {
        }
        &'vsm;help;unit;versions'= {
        }
        &'vsm;help;group'= {
            cand start 'Start one group of a unit'
            cand stop 'Stop one group of a unit'
            cand attach 'Registered groups: add an existing machine by address (checked reachable over SSH)'
            cand detach 'Registered groups: remove a server from the group; the machine itself is untouched'
        }
        &'vsm;help;group;start'= {
        }
        &'vsm;help;group;stop'= {
        }
        &'vsm;help;group;attach'= {
        }
        &'vsm;help;group;detach'= {
        }
        &'vsm;help;server'= {
            cand logs 'Print a server''s console log'
            cand recover 'Recover a failed server (restart it, or re-create it and re-apply its definitions)'
            cand mark 'Mark a server as failed, with a comment; operations touching it end with a warning'
            cand unmark 'Remove a server''s failure mark'
        }
        &'vsm;help;server;logs'= {
        }
        &'vsm;help;server;recover'= {
        }
        &'vsm;help;server;mark'= {
        }
        &'vsm;help;server;unmark'= {
        }
        &'vsm;help;op'= {
            cand list 'List operations, newest first'
            cand show 'Show an operation with its per-server results'
            cand cancel 'Cancel a running operation (servers already done stay done)'
            cand wait 'Wait for an operation to finish, showing its progress; exits with its outcome''s code'
        }
        &'vsm;help;op;list'= {
        }
        &'vsm;help;op;show'= {
        }
        &'vsm;help;op;cancel'= {
        }
        &'vsm;help;op;wait'= {
        }
        &'vsm;help;jp1'= {
            cand ajs-jobnet 'Print a JP1/AJS jobnet definition (ajsdefine) that starts and stops a unit every day'
            cand logtrap-config 'Print the JP1/IM log-file trap action definition matching the manager''s event log'
            cand pfm-export 'Write the servers'' load figures as a JP1/PFM user-record file (PI_UPI) for jpcuser'
        }
        &'vsm;help;jp1;ajs-jobnet'= {
        }
        &'vsm;help;jp1;logtrap-config'= {
        }
        &'vsm;help;jp1;pfm-export'= {
        }
        &'vsm;help;completions'= {
        }
        &'vsm;help;help'= {
        }
    ]
    $completions[$command]
}

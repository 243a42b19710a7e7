//! The console's two languages: English and Japanese, chosen per request from
//! `Accept-Language`, and the one table of every sentence the console itself writes.
//!
//! Error sentences and hints are the manager's own (the API's `ErrorBody`), shown as the CLI
//! shows them; only the console's labels and headings are translated here.

use axum::http::HeaderMap;

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    /// English (the default).
    En,
    /// Japanese, for the original product's Japanese operations teams.
    Ja,
}

impl Lang {
    /// The best of English and Japanese for an `Accept-Language` header (highest `q` first,
    /// the header's order among equals; English when neither is asked for).
    pub(crate) fn from_headers(headers: &HeaderMap) -> Lang {
        headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(Lang::negotiate)
            .unwrap_or(Lang::En)
    }

    /// See [`Lang::from_headers`].
    pub(crate) fn negotiate(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut fields = part.split(';');
            let tag = fields
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let q = fields
                .filter_map(|f| f.trim().strip_prefix("q="))
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or_default();
            let lang = match primary {
                "ja" => Lang::Ja,
                "en" => Lang::En,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::En)
    }

    /// The `lang` attribute of the page.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }
}

/// Every fixed text of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Msg {
    Title,
    SkipToContent,
    LogIn,
    LogOut,
    Account,
    Password,
    SignedInAs,
    Units,
    Unit,
    Owner,
    Definition,
    Version,
    Servers,
    Active,
    Invalid,
    Busy,
    NoUnits,
    Groups,
    Group,
    Kind,
    Template,
    Registered,
    CountMinMax,
    StartOrder,
    Server,
    Logical,
    Observed,
    UpdateScope,
    Address,
    Host,
    Mark,
    LastError,
    Filter,
    AllGroups,
    AllStates,
    Problems,
    NameContains,
    State,
    Showing,
    Of,
    Previous,
    Next,
    NoServers,
    StartUnit,
    StopUnit,
    Confirm,
    Cancel,
    Back,
    Operation,
    Operations,
    Progress,
    Result,
    Error,
    Hint,
    CancelOperation,
    Warnings,
    RequestedBy,
    Created,
    Finished,
    Live,
    Disconnected,
    MoreServers,
    Details,
    Navigation,
    Templates,
    Accounts,
    Owners,
    Hosts,
    AuditLog,
    DefinitionsAndApply,
    Rollback,
    Upgrade,
    Actions,
    Start,
    Stop,
    Scale,
    StartGroup,
    StopGroup,
    ScaleGroup,
    NewCount,
    Continue,
    Generation,
    CreatedAt,
    Log,
    LogOf,
    Recover,
    RecoverServer,
    MarkedWith,
    NotMarked,
    MarkComment,
    MarkServer,
    Unmark,
    LastLines,
    Show,
    Follow,
    StopFollowing,
    NoLog,
    DefinitionsOf,
    Versions,
    NoVersions,
    Digest,
    Imported,
    Current,
    Import,
    ImportHelp,
    Archive,
    ShowDiff,
    Apply,
    ApplyEllipsis,
    ApplyVersion,
    BatchSize,
    NoRollback,
    NoChanges,
    Changes,
    File,
    Change,
    EveryGroup,
    Added,
    Removed,
    Modified,
    WhatWouldChange,
    ComparedWith,
    NothingImportedYet,
    NothingStored,
    NoTemplates,
    Driver,
    Latest,
    UsedBy,
    GenerationsOf,
    Source,
    RegisteredAt,
    Cpus,
    MemoryMib,
    Role,
    Administrator,
    Builder,
    SetPassword,
    SetPasswordOf,
    NewPassword,
    PasswordEndsSessions,
    Delete,
    DeleteAccount,
    AddAccount,
    ChangeOwner,
    NewOwnerOf,
    NewestFirst,
    When,
    Action,
    Target,
    Connected,
    Labels,
    LastSeen,
    BuiltIn,
    ConfirmedDown,
    Yes,
    No,
    HostsHelp,
    LogSettings,
    LogSettingsHelp,
    LogDir,
    LogFiles,
    LogSizeMb,
    LogLevel,
    Save,
    PageNotFound,
    ToUnits,
}

/// The text of `msg` in `lang`.
pub(crate) fn t(lang: Lang, msg: Msg) -> &'static str {
    use Msg::*;
    let (en, ja) = match msg {
        Title => ("vsm console", "vsm コンソール"),
        SkipToContent => ("Skip to content", "本文へ移動"),
        LogIn => ("Log in", "ログイン"),
        LogOut => ("Log out", "ログアウト"),
        Account => ("Account", "アカウント"),
        Password => ("Password", "パスワード"),
        SignedInAs => ("Signed in as", "ログイン中:"),
        Units => ("Management units", "管理ユニット"),
        Unit => ("Unit", "管理ユニット"),
        Owner => ("Owner", "所有者"),
        Definition => ("Definitions", "定義"),
        Version => ("Version", "バージョン"),
        Servers => ("Servers", "仮想サーバ"),
        Active => ("Active", "稼働"),
        Invalid => ("Invalid", "無効"),
        Busy => ("Operation running", "実行中の操作"),
        NoUnits => ("No management units.", "管理ユニットはありません。"),
        Groups => ("Virtual server groups", "仮想サーバグループ"),
        Group => ("Group", "グループ"),
        Kind => ("Kind", "種別"),
        Template => ("template", "テンプレート"),
        Registered => ("registered", "登録済みマシン"),
        CountMinMax => ("Count (min–max)", "台数 (最小–最大)"),
        StartOrder => ("Start order", "起動順序"),
        Server => ("Server", "仮想サーバ"),
        Logical => ("Logical state", "論理状態"),
        Observed => ("Observed state", "実状態"),
        UpdateScope => ("Update scope", "更新範囲"),
        Address => ("Address", "アドレス"),
        Host => ("Host", "ホスト"),
        Mark => ("Mark", "障害マーク"),
        LastError => ("Last error", "最後のエラー"),
        Filter => ("Filter", "絞り込み"),
        AllGroups => ("All groups", "すべてのグループ"),
        AllStates => ("All states", "すべての状態"),
        Problems => ("Problems", "問題あり"),
        NameContains => ("Name contains", "名前に含む"),
        State => ("State", "状態"),
        Showing => ("Showing", "表示中"),
        Of => ("of", "件中"),
        Previous => ("Previous page", "前のページ"),
        Next => ("Next page", "次のページ"),
        NoServers => ("No servers match.", "該当する仮想サーバはありません。"),
        StartUnit => ("Start unit", "ユニットを起動"),
        StopUnit => ("Stop unit", "ユニットを停止"),
        Confirm => ("Confirm", "実行"),
        Cancel => ("Cancel", "キャンセル"),
        Back => ("Back", "戻る"),
        PageNotFound => ("Page not found", "ページが見つかりません"),
        ToUnits => ("To the management units", "管理ユニットの一覧へ"),
        Operation => ("Operation", "操作"),
        Operations => ("Last operations", "最近の操作"),
        Progress => ("Progress", "進捗"),
        Result => ("Result", "結果"),
        Error => ("Error", "エラー"),
        Hint => ("What to do", "対処"),
        CancelOperation => ("Cancel operation", "操作を取り消す"),
        Warnings => ("Warnings", "警告"),
        RequestedBy => ("Requested by", "要求者"),
        Created => ("Started at", "開始日時"),
        Finished => ("Finished at", "終了日時"),
        Live => ("Live", "ライブ更新中"),
        Disconnected => (
            "Live updates paused; reconnecting…",
            "ライブ更新が中断しました。再接続中…",
        ),
        MoreServers => ("more servers not shown", "台は表示していません"),
        Details => ("Details", "詳細"),
        Navigation => ("Sections", "メニュー"),
        Templates => ("Templates", "テンプレート"),
        Accounts => ("Accounts", "アカウント"),
        Owners => ("Units' owners", "管理ユニットの所有者"),
        Hosts => ("Hosts", "ホスト"),
        AuditLog => ("Audit log", "監査ログ"),
        DefinitionsAndApply => ("Definitions (import, apply)", "定義 (インポート・適用)"),
        Rollback => ("Roll back", "ロールバック"),
        Upgrade => ("Upgrade", "アップグレード"),
        Actions => ("Actions", "操作"),
        Start => ("Start", "起動"),
        Stop => ("Stop", "停止"),
        Scale => ("Scale", "台数変更"),
        StartGroup => ("Start group", "グループを起動"),
        StopGroup => ("Stop group", "グループを停止"),
        ScaleGroup => ("Scale group", "グループの台数変更"),
        NewCount => ("New count", "新しい台数"),
        Continue => ("Continue", "次へ"),
        Generation => ("Generation", "世代"),
        CreatedAt => ("Created at", "作成日時"),
        Log => ("Log", "ログ"),
        LogOf => ("Log of", "ログ:"),
        Recover => ("Recover…", "回復…"),
        RecoverServer => ("Recover server", "仮想サーバを回復"),
        MarkedWith => ("Marked failed:", "障害マークあり:"),
        NotMarked => ("Not marked.", "障害マークはありません。"),
        MarkComment => ("Comment", "コメント"),
        MarkServer => ("Mark failed", "障害マークを付ける"),
        Unmark => ("Remove the mark", "障害マークを外す"),
        LastLines => ("Last lines", "末尾の行数"),
        Show => ("Show", "表示"),
        Follow => ("Follow", "追跡"),
        StopFollowing => ("Stop following", "追跡をやめる"),
        NoLog => ("The log is empty.", "ログは空です。"),
        DefinitionsOf => ("Definitions of unit", "定義: 管理ユニット"),
        Versions => ("Imported versions", "インポート済みのバージョン"),
        NoVersions => (
            "Nothing imported yet.",
            "まだ何もインポートされていません。",
        ),
        Digest => ("Digest", "ダイジェスト"),
        Imported => ("Imported", "インポート日時"),
        Current => ("current", "現行"),
        Import => ("Import", "インポート"),
        ImportHelp => (
            "Choose the definition directory packed as a tar file, with its files at the top, for example:",
            "定義ディレクトリを、ファイルが最上位に来るように tar ファイルにまとめて選んでください。例:",
        ),
        Archive => ("Tar file", "tar ファイル"),
        ShowDiff => ("Show what would change", "変更点を表示"),
        Apply => ("Apply", "適用"),
        ApplyEllipsis => ("Apply…", "適用…"),
        ApplyVersion => ("Apply a version", "バージョンを適用"),
        BatchSize => ("Servers per batch", "一度に更新する台数"),
        NoRollback => (
            "If the roll-out fails, keep its servers on the new version (no automatic rollback)",
            "ロールアウトが失敗しても、更新した仮想サーバを新しいバージョンのままにする (自動ロールバックしない)",
        ),
        NoChanges => ("No file changes.", "ファイルの変更はありません。"),
        Changes => ("Changed files", "変更されたファイル"),
        File => ("File", "ファイル"),
        Change => ("Change", "変更"),
        EveryGroup => ("(every group)", "(全グループ)"),
        Added => ("added", "追加"),
        Removed => ("removed", "削除"),
        Modified => ("modified", "変更"),
        WhatWouldChange => ("What the import would change", "インポートした場合の変更点"),
        ComparedWith => ("compared with", "比較対象:"),
        NothingImportedYet => ("nothing imported yet", "まだ何もインポートされていません"),
        NothingStored => ("nothing was stored", "何も保存していません"),
        NoTemplates => ("No templates.", "テンプレートはありません。"),
        Driver => ("Driver", "ドライバ"),
        Latest => ("latest", "最新"),
        UsedBy => ("Used by", "使用している管理ユニット"),
        GenerationsOf => ("Generations of", "世代:"),
        Source => ("Source", "ソース"),
        RegisteredAt => ("Registered at", "登録日時"),
        Cpus => ("vCPUs", "vCPU"),
        MemoryMib => ("Memory (MiB)", "メモリ (MiB)"),
        Role => ("Role", "ロール"),
        Administrator => ("administrator", "管理者"),
        Builder => ("builder", "構築者"),
        SetPassword => ("Set password", "パスワードを設定"),
        SetPasswordOf => ("Set the password of", "パスワードを設定:"),
        NewPassword => ("New password", "新しいパスワード"),
        PasswordEndsSessions => (
            "The account's sessions end; it logs in again with the new password.",
            "このアカウントのセッションは終了します。新しいパスワードで再度ログインしてください。",
        ),
        Delete => ("Delete…", "削除…"),
        DeleteAccount => ("Delete account", "アカウントを削除"),
        AddAccount => ("Add account", "アカウントを追加"),
        ChangeOwner => ("Change owner", "所有者を変更"),
        NewOwnerOf => ("New owner of", "新しい所有者:"),
        NewestFirst => ("Newest first", "新しい順"),
        When => ("When", "日時"),
        Action => ("Action", "操作"),
        Target => ("Target", "対象"),
        Connected => ("Connected", "接続"),
        Labels => ("Labels", "ラベル"),
        LastSeen => ("Last answered", "最終応答"),
        BuiltIn => ("built in", "組み込み"),
        ConfirmedDown => ("loss confirmed", "喪失確認済み"),
        Yes => ("yes", "はい"),
        No => ("no", "いいえ"),
        HostsHelp => (
            "vCPUs and memory: used / allocatable. Add, drain and remove hosts with `vsm host`.",
            "vCPU とメモリ: 使用中 / 割り当て可能。ホストの追加・退避・削除は `vsm host` で行います。",
        ),
        LogSettings => ("Log settings", "ログ設定"),
        LogSettingsHelp => (
            "The manager's own log files; a change applies at once and is kept in config.yaml (`vsm manager log-config`).",
            "マネージャ自身のログファイルの設定です。変更はすぐに反映され、config.yaml に保存されます(`vsm manager log-config`)。",
        ),
        LogDir => ("Directory", "ディレクトリ"),
        LogFiles => ("Files kept", "保持するファイル数"),
        LogSizeMb => ("Size of a file (MiB)", "1 ファイルのサイズ (MiB)"),
        LogLevel => ("Level (filter)", "レベル (フィルタ)"),
        Save => ("Save", "保存"),
    };
    match lang {
        Lang::En => en,
        Lang::Ja => ja,
    }
}

/// "start 12 servers in 2 groups of unit shop" in `lang`.
pub(crate) fn confirm_sentence(
    lang: Lang,
    start: bool,
    servers: usize,
    groups: usize,
    unit: &str,
) -> String {
    match lang {
        Lang::En => {
            let verb = if start { "Start" } else { "Stop" };
            let s = if servers == 1 { "server" } else { "servers" };
            let g = if groups == 1 { "group" } else { "groups" };
            format!("{verb} {servers} {s} in {groups} {g} of unit {unit}?")
        }
        Lang::Ja => {
            let verb = if start { "起動" } else { "停止" };
            format!(
                "管理ユニット {unit} の {groups} グループ {servers} 台の仮想サーバを{verb}しますか?"
            )
        }
    }
}

fn servers_en(n: usize) -> String {
    format!("{n} {}", if n == 1 { "server" } else { "servers" })
}

/// "Start 2 servers in group web of unit shop?" in `lang`.
pub(crate) fn group_confirm_sentence(
    lang: Lang,
    start: bool,
    servers: usize,
    group: &str,
    unit: &str,
) -> String {
    match lang {
        Lang::En => {
            let verb = if start { "Start" } else { "Stop" };
            format!(
                "{verb} {} in group {group} of unit {unit}?",
                servers_en(servers)
            )
        }
        Lang::Ja => {
            let verb = if start { "起動" } else { "停止" };
            format!(
                "管理ユニット {unit} の仮想サーバグループ {group} の {servers} 台の仮想サーバを{verb}しますか?"
            )
        }
    }
}

/// "Scale group web of unit shop from 2 to 3 servers?" in `lang`.
pub(crate) fn scale_sentence(lang: Lang, unit: &str, group: &str, from: usize, to: u32) -> String {
    match lang {
        Lang::En => {
            let s = if to == 1 { "server" } else { "servers" };
            format!("Scale group {group} of unit {unit} from {from} to {to} {s}?")
        }
        Lang::Ja => format!(
            "管理ユニット {unit} の仮想サーバグループ {group} の台数を {from} 台から {to} 台に変更しますか?"
        ),
    }
}

/// "Roll unit shop back from v2 to v1 on 4 servers?" in `lang` (`None`: the version is not
/// known here; the manager says why when asked).
pub(crate) fn rollback_sentence(
    lang: Lang,
    unit: &str,
    from: Option<&str>,
    to: Option<&str>,
    servers: usize,
) -> String {
    match lang {
        Lang::En => format!(
            "Roll unit {unit} back from {} to {} on {}?",
            from.unwrap_or("its current version"),
            to.unwrap_or("the version before it"),
            servers_en(servers)
        ),
        Lang::Ja => format!(
            "管理ユニット {unit} の {servers} 台の仮想サーバを {} から {} に戻しますか?",
            from.unwrap_or("現行のバージョン"),
            to.unwrap_or("その前のバージョン")
        ),
    }
}

/// "Upgrade 4 servers of unit shop to their template's newest generation?" in `lang`.
pub(crate) fn upgrade_sentence(lang: Lang, unit: &str, servers: usize) -> String {
    match lang {
        Lang::En => format!(
            "Upgrade {} of unit {unit} to their templates' newest generations?",
            servers_en(servers)
        ),
        Lang::Ja => format!(
            "管理ユニット {unit} の {servers} 台の仮想サーバをテンプレートの最新世代に更新しますか?"
        ),
    }
}

/// "Apply v2 to 4 servers in 2 groups of unit shop?" in `lang`.
pub(crate) fn apply_sentence(
    lang: Lang,
    unit: &str,
    version: &str,
    servers: usize,
    groups: usize,
) -> String {
    match lang {
        Lang::En => {
            let g = if groups == 1 { "group" } else { "groups" };
            format!(
                "Apply {version} to {} in {groups} {g} of unit {unit}?",
                servers_en(servers)
            )
        }
        Lang::Ja => format!(
            "管理ユニット {unit} の {groups} グループ {servers} 台の仮想サーバに {version} を適用しますか?"
        ),
    }
}

/// What an apply without automatic rollback adds to its confirmation, in `lang`.
pub(crate) fn no_rollback_note(lang: Lang, version: &str) -> String {
    match lang {
        Lang::En => format!(
            "If the roll-out fails, the servers it updated stay on {version}: nothing is rolled back automatically."
        ),
        Lang::Ja => format!(
            "ロールアウトが失敗しても、更新した仮想サーバは {version} のまま残ります(自動ではロールバックしません)。"
        ),
    }
}

/// "The servers of unit shop now" (a running operation's page) in `lang`.
pub(crate) fn servers_now_heading(lang: Lang, unit: &str) -> String {
    match lang {
        Lang::En => format!("The servers of unit {unit} now"),
        Lang::Ja => format!("管理ユニット {unit} の仮想サーバ (現在)"),
    }
}

/// "There is no console page at /ui/nosuch." in `lang`.
pub(crate) fn no_page_sentence(lang: Lang, path: &str) -> String {
    match lang {
        Lang::En => format!("There is no console page at {path}."),
        Lang::Ja => format!("{path} というコンソールのページはありません。"),
    }
}

/// "Recover server web-1 of unit shop?" in `lang`.
pub(crate) fn recover_sentence(lang: Lang, unit: &str, server: &str) -> String {
    match lang {
        Lang::En => format!(
            "Recover server {server} of unit {unit}: restart it, or create it again and apply its definitions, as its group's policy says?"
        ),
        Lang::Ja => format!(
            "管理ユニット {unit} の仮想サーバ {server} を回復しますか(グループの方針に従い、再起動または再作成して定義を適用します)?"
        ),
    }
}

/// "Delete account carol? …" in `lang`.
pub(crate) fn delete_account_sentence(lang: Lang, account: &str) -> String {
    match lang {
        Lang::En => format!("Delete account {account}? Its sessions end at once."),
        Lang::Ja => format!("アカウント {account} を削除しますか? セッションもすぐに終了します。"),
    }
}

/// What an import did, in `lang`.
pub(crate) fn import_sentence(lang: Lang, file: &str, version: &str, created: bool) -> String {
    match (lang, created) {
        (Lang::En, true) => format!("{file} was imported as the new version {version}."),
        (Lang::En, false) => {
            format!("{file} is identical to version {version}: nothing new was imported.")
        }
        (Lang::Ja, true) => {
            format!("{file} を新しいバージョン {version} としてインポートしました。")
        }
        (Lang::Ja, false) => format!(
            "{file} はバージョン {version} と同じです。新しいバージョンは作成していません。"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_of_english_and_japanese() {
        let check = |h: &str, want: Lang| assert_eq!(Lang::negotiate(h), want, "{h}");
        check("", Lang::En);
        check("ja", Lang::Ja);
        check("ja-JP,ja;q=0.9,en-US;q=0.8", Lang::Ja);
        check("en-US,en;q=0.9,ja;q=0.8", Lang::En);
        check("fr, ja;q=0.5", Lang::Ja);
        check("de", Lang::En);
        check("en;q=0.2, ja;q=0.7", Lang::Ja);
        check("ja;q=0", Lang::En);
    }

    #[test]
    fn confirmation_names_what_is_touched() {
        assert_eq!(
            confirm_sentence(Lang::En, false, 12, 2, "shop"),
            "Stop 12 servers in 2 groups of unit shop?"
        );
        assert_eq!(
            confirm_sentence(Lang::En, true, 1, 1, "shop"),
            "Start 1 server in 1 group of unit shop?"
        );
        assert_eq!(
            confirm_sentence(Lang::Ja, true, 3, 1, "shop"),
            "管理ユニット shop の 1 グループ 3 台の仮想サーバを起動しますか?"
        );
        assert_eq!(
            group_confirm_sentence(Lang::En, false, 2, "web", "shop"),
            "Stop 2 servers in group web of unit shop?"
        );
        assert_eq!(
            scale_sentence(Lang::En, "shop", "web", 2, 3),
            "Scale group web of unit shop from 2 to 3 servers?"
        );
        assert_eq!(
            rollback_sentence(Lang::En, "shop", Some("v2"), Some("v1"), 4),
            "Roll unit shop back from v2 to v1 on 4 servers?"
        );
        assert_eq!(
            apply_sentence(Lang::En, "shop", "v2", 4, 2),
            "Apply v2 to 4 servers in 2 groups of unit shop?"
        );
        assert_eq!(
            apply_sentence(Lang::Ja, "shop", "v2", 1, 1),
            "管理ユニット shop の 1 グループ 1 台の仮想サーバに v2 を適用しますか?"
        );
        assert_eq!(
            no_rollback_note(Lang::En, "v3"),
            "If the roll-out fails, the servers it updated stay on v3: nothing is rolled back automatically."
        );
        assert!(no_rollback_note(Lang::Ja, "v3").contains("v3 のまま"));
        assert_eq!(
            servers_now_heading(Lang::Ja, "shop"),
            "管理ユニット shop の仮想サーバ (現在)"
        );
    }

    #[test]
    fn every_text_has_both_languages() {
        // A sample of the table: both languages present and different where words differ.
        for m in [
            Msg::Templates,
            Msg::AuditLog,
            Msg::Follow,
            Msg::Import,
            Msg::ChangeOwner,
            Msg::NoRollback,
        ] {
            assert!(!t(Lang::En, m).is_empty() && !t(Lang::Ja, m).is_empty());
            assert_ne!(t(Lang::En, m), t(Lang::Ja, m), "{m:?}");
        }
    }
}

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
    }
}

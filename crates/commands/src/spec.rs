//! The types of the command table.
//!
//! The shape follows what Redis 7.0 reports, field for field, so that
//! COMMAND INFO and COMMAND DOCS can be rebuilt from the table without any
//! per-command code: `flags`, `first_key`/`last_key`/`step`, `acl_categories`,
//! `tips` and `key_specs` come from COMMAND INFO; `group` down to `arguments`
//! come from COMMAND DOCS. Flag and category names are kept as the strings
//! Redis prints (rather than enums) because the only consumers compare them
//! with names a client sent or print them back; a typo in a hand-written
//! entry is caught by the `flags_are_known` test.

/// One command or subcommand.
///
/// Subcommand names are written the way Redis reports them, `container|sub`
/// (for example `config|get`). Hand-written entries should start from
/// [`CommandSpec::DEFAULT`]:
///
/// ```
/// use commands::CommandSpec;
/// static EXAMPLE: CommandSpec = CommandSpec {
///     name: "crdt.example",
///     arity: 2,
///     flags: &["readonly", "fast"],
///     ..CommandSpec::DEFAULT
/// };
/// assert!(EXAMPLE.is_readonly());
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// Lowercase name; `container|sub` for subcommands.
    pub name: &'static str,
    /// Redis convention: `n` means exactly `n` arguments including the
    /// command name (and the subcommand name), `-n` means at least `n`.
    pub arity: i32,
    /// Redis 7.0 command flags, in the order COMMAND INFO prints them.
    pub flags: &'static [&'static str],
    /// Legacy key range: position of the first key (0 = no keys).
    pub first_key: i32,
    /// Legacy key range: position of the last key, negative counts from the end.
    pub last_key: i32,
    /// Legacy key range: distance between keys.
    pub step: i32,
    /// ACL categories with their `@` prefix.
    pub acl_categories: &'static [&'static str],
    /// Command tips (`nondeterministic_output`, `request_policy:all_shards`, ...).
    pub tips: &'static [&'static str],
    /// Redis 7 key specifications.
    pub key_specs: &'static [KeySpec],
    /// How to find keys when the key specs cannot (movable-keys commands).
    pub keys_proc: KeysProc,
    /// COMMAND DOCS group (`string`, `sorted-set`, `server`, ...).
    pub group: &'static str,
    pub since: Option<&'static str>,
    pub summary: Option<&'static str>,
    pub complexity: Option<&'static str>,
    /// `deprecated`, `syscmd`.
    pub doc_flags: &'static [&'static str],
    pub deprecated_since: Option<&'static str>,
    pub replaced_by: Option<&'static str>,
    /// `(version, description)` pairs.
    pub history: &'static [(&'static str, &'static str)],
    /// The argument tree of COMMAND DOCS.
    pub arguments: &'static [Arg],
    /// Subcommands, in the order Redis lists them.
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// An entry with no flags, no keys and no docs, for struct-update syntax
    /// in hand-written tables.
    pub const DEFAULT: CommandSpec = CommandSpec {
        name: "",
        arity: 1,
        flags: &[],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &[],
        tips: &[],
        key_specs: &[],
        keys_proc: KeysProc::None,
        group: "server",
        since: None,
        summary: None,
        complexity: None,
        doc_flags: &[],
        deprecated_since: None,
        replaced_by: None,
        history: &[],
        arguments: &[],
        subcommands: &[],
    };

    /// Returns true if the command has the `write` flag.
    pub fn is_write(&self) -> bool {
        self.has_flag("write")
    }

    /// Returns true if the command has the `readonly` flag.
    pub fn is_readonly(&self) -> bool {
        self.has_flag("readonly")
    }

    /// Returns true if the command has flag `f` (ASCII case-insensitive).
    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.iter().any(|flag| flag.eq_ignore_ascii_case(f))
    }

    /// Returns true if the command is in ACL category `category`, given with
    /// or without the leading `@`.
    pub fn in_acl_category(&self, category: &str) -> bool {
        let category = category.strip_prefix('@').unwrap_or(category);
        self.acl_categories
            .iter()
            .any(|c| c[1..].eq_ignore_ascii_case(category))
    }

    /// Returns true if `argc` arguments (counting the command name, and the
    /// subcommand name for subcommands) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let arity = self.arity.unsigned_abs() as usize;
        if self.arity >= 0 {
            argc == arity
        } else {
            argc >= arity
        }
    }

    /// Returns the name Redis uses in arity errors: the full name,
    /// `config|get` for subcommands.
    pub fn full_name(&self) -> &'static str {
        self.name
    }

    /// Returns the container name of a subcommand (`config` for
    /// `config|get`), or the name itself for a top-level command.
    pub fn container_name(&self) -> &'static str {
        match self.name.split_once('|') {
            Some((container, _)) => container,
            None => self.name,
        }
    }

    /// Returns the subcommand part of the name (`get` for `config|get`), or
    /// the name itself for a top-level command.
    pub fn short_name(&self) -> &'static str {
        match self.name.split_once('|') {
            Some((_, sub)) => sub,
            None => self.name,
        }
    }

    /// Returns true for a subcommand entry.
    pub fn is_subcommand(&self) -> bool {
        self.name.contains('|')
    }

    /// Returns true if the command's keys depend on its arguments.
    pub fn is_movable_keys(&self) -> bool {
        self.has_flag("movablekeys")
    }
}

/// One Redis 7 key specification, as COMMAND INFO reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub notes: Option<&'static str>,
    /// `RO`, `RW`, `OW`, `RM`, `access`, `update`, `insert`, `delete`,
    /// `not_key`, `incomplete`, `variable_flags`.
    pub flags: &'static [&'static str],
    pub begin_search: BeginSearch,
    pub find_keys: FindKeys,
}

impl KeySpec {
    /// Returns true if the spec has flag `f` (ASCII case-insensitive).
    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.iter().any(|flag| flag.eq_ignore_ascii_case(f))
    }
}

/// Where the search for a key spec's first key starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BeginSearch {
    /// The first key is at this argument position.
    Index(i32),
    /// The first key follows `keyword`; the search starts at `startfrom`
    /// (negative: counted from the end, searching backwards).
    Keyword {
        keyword: &'static str,
        startfrom: i32,
    },
    Unknown,
}

/// How a key spec finds the keys after its first one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindKeys {
    /// Keys up to `lastkey` (relative to the first key; negative counts from
    /// the end), every `keystep`; with `limit` > 0 and `lastkey` -1, only
    /// 1/limit of the remaining arguments are keys.
    Range {
        lastkey: i32,
        keystep: i32,
        limit: i32,
    },
    /// The argument at `keynumidx` (relative to the first key) holds the
    /// number of keys; they start at `firstkey` (relative) every `keystep`.
    Keynum {
        keynumidx: i32,
        firstkey: i32,
        keystep: i32,
    },
    Unknown,
}

/// The `getkeys_proc` Redis 7.0 falls back to when key specs fail (db.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeysProc {
    None,
    /// Redis `genericGetKeys(store, numkeys, first, step)`: a key count at
    /// `numkeys` parsed with `atoi`, keys from `first` every `step`, and a
    /// destination key at `store` (0 = none) reported last.
    NumKeys {
        store: usize,
        numkeys: usize,
        first: usize,
        step: usize,
    },
    /// Redis `xreadGetKeys`: keys after the STREAMS option.
    Xread,
    /// Redis `georadiusGetKeys`: the key at 1 plus a STORE/STOREDIST key.
    Georadius,
    /// Redis `setGetKeys` / `bitfieldGetKeys`: the key at 1 (used because
    /// their key specs are flagged `variable_flags`).
    FirstArg,
    /// Redis `sortGetKeys`: the key at 1 plus the last STORE key.
    Sort,
}

/// One node of the COMMAND DOCS argument tree.
#[derive(Debug, PartialEq, Eq)]
pub struct Arg {
    pub name: &'static str,
    pub kind: ArgKind,
    /// Index into the command's `key_specs`, or -1.
    pub key_spec_index: i32,
    pub token: Option<&'static str>,
    pub summary: Option<&'static str>,
    pub since: Option<&'static str>,
    pub deprecated_since: Option<&'static str>,
    /// `optional`, `multiple`, `multiple_token`.
    pub flags: &'static [&'static str],
    /// Children of `oneof` and `block` arguments.
    pub arguments: &'static [Arg],
}

impl Arg {
    /// A `string` argument with nothing else set, for struct-update syntax.
    pub const DEFAULT: Arg = Arg {
        name: "",
        kind: ArgKind::String,
        key_spec_index: -1,
        token: None,
        summary: None,
        since: None,
        deprecated_since: None,
        flags: &[],
        arguments: &[],
    };

    /// Returns true if the argument has flag `f`.
    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.contains(&f)
    }
}

/// The argument types of COMMAND DOCS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    String,
    Integer,
    Double,
    Key,
    Pattern,
    UnixTime,
    PureToken,
    Oneof,
    Block,
}

impl ArgKind {
    /// Returns the name COMMAND DOCS prints.
    pub fn as_str(self) -> &'static str {
        match self {
            ArgKind::String => "string",
            ArgKind::Integer => "integer",
            ArgKind::Double => "double",
            ArgKind::Key => "key",
            ArgKind::Pattern => "pattern",
            ArgKind::UnixTime => "unix-time",
            ArgKind::PureToken => "pure-token",
            ArgKind::Oneof => "oneof",
            ArgKind::Block => "block",
        }
    }
}

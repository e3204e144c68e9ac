// Package migrations holds bounced's database schema as numbered SQL files,
// applied in order by store.Migrate. A file that has shipped is never
// edited: a change is a new file with the next number.
package migrations

import "embed"

// FS holds the files NNNN_name.sql.
//
//go:embed *.sql
var FS embed.FS

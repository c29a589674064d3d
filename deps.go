package actiontrigger

import (
	_ "github.com/expr-lang/expr"
	_ "github.com/google/uuid"
	_ "github.com/hashicorp/go-memdb"
	_ "github.com/stretchr/testify/require"
)

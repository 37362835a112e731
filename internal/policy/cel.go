package policy

import (
	"fmt"
	"reflect"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/config"
)

// Limits on rule conditions. A condition is written by an operator, not by
// the caller, but a slow one would slow every request, and claims come from
// tokens, so evaluation is bounded as well as parsing.
const (
	// maxExpressionSize bounds a condition's length in code points.
	maxExpressionSize = 4096
	// costLimit bounds the work of one conjunct's evaluation. Ordinary
	// conditions cost well under 100; comprehensions over huge claim lists
	// stop here.
	costLimit = 100_000
)

// NewEnv returns the CEL environment of rule conditions: issuer and subject
// are strings, claims is a map from claim name to any JSON value. It is the
// one environment: the policy compiles rules in it, and `spangate scan`
// reads them in it, with the same options and size limit.
func NewEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("issuer", cel.StringType),
		cel.Variable("subject", cel.StringType),
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(maxExpressionSize),
		// Macro calls are tracked so each conjunct can be printed back as
		// source, comprehensions included.
		cel.EnableMacroCallTracking(),
	)
}

// conjunct is one operand of a condition's top-level && chain, compiled on
// its own so a deny can say which part failed.
type conjunct struct {
	// text is the conjunct as CEL source, normalised by the unparser.
	text string
	// prog evaluates the conjunct.
	prog cel.Program
	// guard, when set, decides the conjunct without CEL for the common
	// case of a string compared with a string literal.
	guard *guard
	// probe, when set, evaluates the non-literal side of a comparison, to
	// show what the token had.
	probe cel.Program
}

// guard is a conjunct of the form `<variable> == "literal"`, where variable
// is issuer, subject, claims.K or claims["K"]. When the variable holds a
// string, comparing in Go gives the same answer as CEL at a fraction of the
// cost; otherwise the CEL program decides.
type guard struct {
	variable string // "issuer", "subject" or "claims"
	key      string // the claim name when variable is "claims"
	want     string
}

// check returns the guard's verdict, and false for ok when the value is not
// a string and CEL must decide.
func (g *guard) check(in *input) (result, ok bool) {
	var got string
	switch g.variable {
	case "issuer":
		got = in.pr.Issuer
	case "subject":
		got = in.pr.Subject
	default:
		v, found := in.pr.Claims[g.key]
		s, isString := v.(string)
		if !found || !isString {
			return false, false
		}
		got = s
	}
	return got == g.want, true
}

// compileRule compiles a rule's condition and each of its conjuncts. The
// problems it returns are positioned at the line and column of the
// condition in the config file.
func compileRule(env *cel.Env, cfg *config.Config, path string, r config.Rule) ([]conjunct, config.Problems) {
	problemAt := func(line, col int, format string, args ...any) config.Problem {
		return config.Problem{
			Pos:     cfg.LocateIn(path, line, col),
			Path:    path,
			Message: fmt.Sprintf("rule %q: ", r.Name) + fmt.Sprintf(format, args...),
		}
	}
	checked, iss := env.Compile(r.When)
	if iss != nil && iss.Err() != nil {
		var ps config.Problems
		for _, e := range iss.Errors() {
			ps = append(ps, problemAt(e.Location.Line(), e.Location.Column(), "%s", e.Message))
		}
		return nil, ps
	}
	if t := checked.OutputType(); !t.IsExactType(types.BoolType) {
		return nil, config.Problems{problemAt(1, 0,
			"condition is of type %s, not bool; compare the value, for example claims.flag == true", t)}
	}

	native := checked.NativeRep()
	var parts []ast.Expr
	flattenAnd(native.Expr(), &parts)
	conj := make([]conjunct, 0, len(parts))
	for _, e := range parts {
		c, err := compileConjunct(env, e, native.SourceInfo())
		if err != nil {
			return nil, config.Problems{problemAt(1, 0, "internal error compiling %q: %v", r.When, err)}
		}
		conj = append(conj, c)
	}
	return conj, nil
}

// flattenAnd appends the operands of e's top-level && chain, in order.
func flattenAnd(e ast.Expr, out *[]ast.Expr) {
	if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == operators.LogicalAnd {
		for _, a := range e.AsCall().Args() {
			flattenAnd(a, out)
		}
		return
	}
	*out = append(*out, e)
}

func compileConjunct(env *cel.Env, e ast.Expr, info *ast.SourceInfo) (conjunct, error) {
	text, err := unparse(e, info)
	if err != nil {
		return conjunct{}, err
	}
	prog, err := program(env, text)
	if err != nil {
		return conjunct{}, err
	}
	c := conjunct{text: text, prog: prog, guard: guardOf(e)}
	if side := probeSide(e); side != nil {
		if ptext, err := unparse(side, info); err == nil {
			if p, err := program(env, ptext); err == nil {
				c.probe = p
			}
		}
	}
	return c, nil
}

func unparse(e ast.Expr, info *ast.SourceInfo) (string, error) {
	return cel.ExprToString(e, info, cel.FormatWrapOnColumn(1<<20))
}

func program(env *cel.Env, text string) (cel.Program, error) {
	checked, iss := env.Compile(text)
	if iss != nil && iss.Err() != nil {
		return nil, iss.Err()
	}
	return env.Program(checked,
		cel.CostLimit(costLimit),
		cel.OptimizeRegex(interpreter.MatchesRegexOptimization),
	)
}

// guardOf recognises `<variable> == "literal"` in either order.
func guardOf(e ast.Expr) *guard {
	if e.Kind() != ast.CallKind || e.AsCall().FunctionName() != operators.Equals {
		return nil
	}
	args := e.AsCall().Args()
	for i := range 2 {
		lit, side := args[i], args[1-i]
		if lit.Kind() != ast.LiteralKind {
			continue
		}
		want, ok := lit.AsLiteral().(types.String)
		if !ok {
			continue
		}
		switch {
		case side.Kind() == ast.IdentKind && (side.AsIdent() == "issuer" || side.AsIdent() == "subject"):
			return &guard{variable: side.AsIdent(), want: string(want)}
		case side.Kind() == ast.SelectKind && !side.AsSelect().IsTestOnly() && isClaims(side.AsSelect().Operand()):
			return &guard{variable: "claims", key: side.AsSelect().FieldName(), want: string(want)}
		case side.Kind() == ast.CallKind && side.AsCall().FunctionName() == operators.Index:
			ia := side.AsCall().Args()
			if len(ia) == 2 && isClaims(ia[0]) && ia[1].Kind() == ast.LiteralKind {
				if key, ok := ia[1].AsLiteral().(types.String); ok {
					return &guard{variable: "claims", key: string(key), want: string(want)}
				}
			}
		}
	}
	return nil
}

func isClaims(e ast.Expr) bool { return e.Kind() == ast.IdentKind && e.AsIdent() == "claims" }

// probeSide returns the side of a comparison worth showing on a deny: the
// operand that is not a literal (or a list of literals).
func probeSide(e ast.Expr) ast.Expr {
	if e.Kind() != ast.CallKind {
		return nil
	}
	call := e.AsCall()
	switch call.FunctionName() {
	case operators.Equals, operators.NotEquals, operators.Less, operators.LessEquals,
		operators.Greater, operators.GreaterEquals, operators.In:
	default:
		if call.IsMemberFunction() && isConstant(call.Args()...) {
			return call.Target() // claims.ref.startsWith("refs/heads/")
		}
		return nil
	}
	args := call.Args()
	if len(args) != 2 {
		return nil
	}
	switch {
	case isConstant(args[1]) && !isConstant(args[0]):
		return args[0]
	case isConstant(args[0]) && !isConstant(args[1]):
		return args[1]
	}
	return nil
}

func isConstant(es ...ast.Expr) bool {
	for _, e := range es {
		switch e.Kind() {
		case ast.LiteralKind:
		case ast.ListKind:
			if !isConstant(e.AsList().Elements()...) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// input holds one principal's CEL variables, converted once per decision.
type input struct {
	pr      *spangate.Principal
	issuer  ref.Val
	subject ref.Val
	claims  ref.Val
}

func newInput(pr *spangate.Principal) *input {
	claims := pr.Claims
	if claims == nil {
		claims = map[string]any{}
	}
	return &input{
		pr:      pr,
		issuer:  types.String(pr.Issuer),
		subject: types.String(pr.Subject),
		claims:  types.DefaultTypeAdapter.NativeToValue(claims),
	}
}

// ResolveName implements interpreter.Activation.
func (in *input) ResolveName(name string) (any, bool) {
	switch name {
	case "issuer":
		return in.issuer, true
	case "subject":
		return in.subject, true
	case "claims":
		return in.claims, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (in *input) Parent() interpreter.Activation { return nil }

// outcome is the result of evaluating one conjunct.
type outcome uint8

const (
	outcomeTrue outcome = iota
	outcomeFalse
	outcomeError
)

// eval evaluates the conjunct for in. err describes an evaluation error.
func (c *conjunct) eval(in *input) (res outcome, err error) {
	if c.guard != nil {
		if ok, decided := c.guard.check(in); decided {
			if ok {
				return outcomeTrue, nil
			}
			return outcomeFalse, nil
		}
	}
	defer func() {
		if r := recover(); r != nil {
			res, err = outcomeError, fmt.Errorf("evaluation failed: %v", r)
		}
	}()
	val, _, err := c.prog.Eval(in)
	if err != nil {
		return outcomeError, err
	}
	switch v := val.(type) {
	case types.Bool:
		if v {
			return outcomeTrue, nil
		}
		return outcomeFalse, nil
	case *types.Err:
		return outcomeError, v
	default:
		return outcomeError, fmt.Errorf("evaluated to %s, not bool", val.Type().TypeName())
	}
}

// observed evaluates the probe and describes the token's value, for a
// deny's reason: `token has "x"` or `token has no claim "k"`.
func (c *conjunct) observed(in *input) string {
	if c.probe == nil {
		return ""
	}
	val, _, err := c.probe.Eval(in)
	if err == nil {
		if e, ok := val.(*types.Err); ok {
			err = e
		}
	}
	if err != nil {
		return describeEvalError(err)
	}
	return "token has " + formatValue(val)
}

// describeEvalError turns CEL's evaluation errors into the words of the
// domain.
func describeEvalError(err error) string {
	msg := err.Error()
	if key, ok := strings.CutPrefix(msg, "no such key: "); ok {
		return fmt.Sprintf("token has no claim %q", key)
	}
	return msg
}

// formatValue renders a CEL value briefly, quoting strings and cutting long
// values.
func formatValue(v ref.Val) string {
	var s string
	switch x := v.(type) {
	case types.String:
		s = fmt.Sprintf("%q", string(x))
	default:
		if native, err := v.ConvertToNative(reflect.TypeFor[any]()); err == nil {
			s = fmt.Sprintf("%v", native)
		} else {
			s = fmt.Sprintf("%v", v.Value())
		}
		s += " (" + v.Type().TypeName() + ")"
	}
	const max = 120
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

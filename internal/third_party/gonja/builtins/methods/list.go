package methods

import (
	"reflect"

	"github.com/flowrun/flowrun/internal/third_party/gonja/exec"
)

var listMethods = exec.NewMethodSet[[]any](map[string]exec.Method[[]any]{
	"append": func(_ []any, selfValue *exec.Value, arguments *exec.VarArgs) (any, error) {
		var (
			x any
		)
		if err := arguments.Take(
			exec.PositionalArgument("x", nil, exec.AnyArgument(&x)),
		); err != nil {
			return nil, exec.ErrInvalidCall(err)
		}

		// (Fork: never into spare capacity of the list's array, which the
		// caller's data may share with other goroutines.)
		list := selfValue.Val
		if list.Kind() == reflect.Slice {
			list = list.Slice3(0, list.Len(), list.Len())
		}
		*selfValue = *exec.ToValue(reflect.Append(list, reflect.ValueOf(exec.ToValue(x))))

		return nil, nil
	},
	"reverse": func(_ []any, selfValue *exec.Value, arguments *exec.VarArgs) (any, error) {
		if err := arguments.Take(); err != nil {
			return nil, exec.ErrInvalidCall(err)
		}
		reversed := reflect.MakeSlice(selfValue.Val.Type(), 0, 0)
		for i := selfValue.Val.Len() - 1; i >= 0; i-- {
			reversed = reflect.Append(reversed, selfValue.Val.Index(i))
		}
		// (Fork: a new list, not the caller's array reversed in place: it
		// may be shared with other goroutines.)
		*selfValue = *exec.ToValue(reversed)

		return nil, nil
	},
	"copy": func(self []any, selfValue *exec.Value, arguments *exec.VarArgs) (any, error) {
		if err := arguments.Take(); err != nil {
			return nil, exec.ErrInvalidCall(err)
		}
		return self, nil
	},
})

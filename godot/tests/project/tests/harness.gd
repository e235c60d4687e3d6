# Small test harness shared by the scenes: counts checks, prints a closing line, quits
# with a non-zero code on failure or when the watchdog fires.
extends Reference

var passed = 0
var failed = 0
var name = ""
var done = false
var deadline = 0

func _init(test_name, seconds = 60):
	name = test_name
	deadline = OS.get_ticks_msec() + seconds * 1000

# Call from the scene's _idle: ends a scene whose coroutine stalled or died.
func watchdog(tree):
	if not done and OS.get_ticks_msec() > deadline:
		check(false, "watchdog: the scene did not finish in time")
		finish(tree)

func check(cond, what):
	if cond:
		passed += 1
		print("  ok   ", what)
	else:
		failed += 1
		print("  FAIL ", what)
	return cond

func eq(got, want, what):
	return check(typeof(got) == typeof(want) and got == want, "%s (got %s, want %s)" % [what, str(got), str(want)])

func finish(tree):
	if done:
		return
	done = true
	print("%s: %d passed, %d failed" % [name, passed, failed])
	print("%d passed, %d failed" % [passed, failed])
	tree.quit(1 if failed > 0 or passed == 0 else 0)

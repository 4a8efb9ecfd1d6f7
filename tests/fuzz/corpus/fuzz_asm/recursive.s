module 0x2 r
function public f (u64) -> (u64) locals 0
	load 0
	jz base
	load 0
	push 1
	sub
	call f
	ret
base:
	push 1
	ret
end

module 0x2 m
function public f (u64, u64, u64, u64, u64, u64, u64, u64, u64, u64, u64) -> (u64) locals 244
	load 254
	ret
end

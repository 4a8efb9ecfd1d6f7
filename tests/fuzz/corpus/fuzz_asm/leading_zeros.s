module 010 m
function public f () -> (u64, u64) locals 0
push 010
push 09
ret
end

#include "trace/trace-hw_net_chimney.h"

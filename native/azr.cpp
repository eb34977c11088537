#include "azr.h"

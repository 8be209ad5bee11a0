// PhotoIO

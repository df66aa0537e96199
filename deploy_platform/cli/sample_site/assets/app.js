document.querySelector("h1")?.setAttribute("title", "served at " + location.host);

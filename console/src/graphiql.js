// Init script of the hub's GraphiQL page (served as /console/graphiql.js; the page loads React,
// ReactDOM and GraphiQL from /console/vendor/graphiql/, never from the internet).
// The console's access token (sessionStorage 'c360.token', same tab) becomes the default headers.
(function () {
  'use strict';
  var token = null;
  try {
    token = window.sessionStorage.getItem('c360.token');
  } catch (e) {
    token = null;
  }
  var wsProto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  var options = {
    url: '/graphql',
    subscriptionUrl: wsProto + '//' + window.location.host + '/graphql/ws',
  };
  if (token) options.wsConnectionParams = { Authorization: 'Bearer ' + token };
  var fetcher = window.GraphiQL.createFetcher(options);
  var props = { fetcher: fetcher, shouldPersistHeaders: false };
  if (token) {
    props.defaultHeaders = JSON.stringify(
      { Authorization: 'Bearer ' + token, 'X-C360-Purpose': 'SERVICE' },
      null,
      2
    );
  }
  var el = document.getElementById('graphiql');
  window.ReactDOM.createRoot(el).render(window.React.createElement(window.GraphiQL, props));
})();
